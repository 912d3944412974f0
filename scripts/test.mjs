#!/usr/bin/env node
// `npm test`: everything a clean clone needs to run every test, then the tests.
//   1. the test-only client packages (test/third-party/package.json: Gemini CLI core,
//      playwright-core), installed on first use and whenever their lockfile changes (cached in
//      test/third-party/node_modules; tests reach them through test/support/third-party-hooks.mjs);
//   2. the server built as `npm start` runs it (dist/), since end-to-end tests start that;
//   3. a type check of the tests;
//   4. node's test runner over test/**/*.test.ts (or the files/folders given as arguments).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testDir = path.join(root, 'test');
const thirdPartyDir = path.join(testDir, 'third-party');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.status !== 0) {
    console.error(`\n${[command, ...args].join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

function ensureTestPackages() {
  const lock = path.join(thirdPartyDir, 'package-lock.json');
  const stamp = path.join(thirdPartyDir, 'node_modules', '.installed-from');
  const want = createHash('sha256').update(fs.readFileSync(lock)).update(process.version.split('.')[0]).digest('hex');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return;
  console.log('Installing the test-only client packages (test/third-party/package.json), once…');
  run(npm, ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: thirdPartyDir });
  fs.writeFileSync(stamp, want);
}

function testFiles(targets) {
  const found = [];
  const walk = (entry) => {
    const stat = fs.statSync(entry);
    if (stat.isDirectory()) {
      if (path.basename(entry) === 'node_modules' || entry === thirdPartyDir) return;
      for (const name of fs.readdirSync(entry).sort()) walk(path.join(entry, name));
    } else if (entry.endsWith('.test.ts')) {
      found.push(path.relative(root, entry));
    }
  };
  (targets.length ? targets.map((target) => path.resolve(target)) : [testDir]).forEach(walk);
  return found;
}

const files = testFiles(process.argv.slice(2));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
ensureTestPackages();
run(npm, ['run', '--silent', 'build']);
run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.test.json']);

const result = spawnSync(process.execPath, [
  '--import', 'tsx',
  '--import', './test/support/third-party-register.mjs',
  '--test',
  '--test-reporter=spec',
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
  '--test-timeout=300000',
  ...files,
], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
