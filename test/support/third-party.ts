import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './server-process.js';

/**
 * Where the test-only packages live (test/third-party, installed by `npm test` on first use), and
 * the facts tests need about them: which version is installed, where a package's files and the
 * bundled Node.js releases are.
 */
const THIRD_PARTY_MODULES = path.join(ROOT, 'test', 'third-party', 'node_modules');

/** A file inside an installed test-only package; fails with what is missing. */
export function packageFile(pkg: string, relative: string): string {
  const file = path.join(THIRD_PARTY_MODULES, pkg, relative);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: the test-only package ${pkg} is not installed (npm test installs test/third-party)`);
  return file;
}

/** The installed version of a test-only package, read from its own package.json. */
export function installedVersion(pkg: string): string {
  return (JSON.parse(fs.readFileSync(packageFile(pkg, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The directory of an official Node.js release installed as a package (node22, node24): bin/node, lib/… */
export function nodeDistribution(pkg: 'node22' | 'node24'): string {
  const dir = path.join(THIRD_PARTY_MODULES, pkg, 'node_modules', `node-${process.platform}-${process.arch}`);
  if (!fs.existsSync(path.join(dir, 'bin', 'node'))) throw new Error(`${dir}/bin/node is missing: the test package did not install ${pkg} for ${process.platform}-${process.arch}`);
  return dir;
}

/** The `node` binary of such a release, for clients that need a newer Node.js than the server's 20. */
export function nodeBinary(pkg: 'node22' | 'node24'): string {
  return path.join(nodeDistribution(pkg), 'bin', 'node');
}

/** The installed version of one of the project's own dependencies (its node_modules), read from its package.json. */
export function dependencyVersion(pkg: string): string {
  const file = path.join(ROOT, 'node_modules', pkg, 'package.json');
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm install`);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}
