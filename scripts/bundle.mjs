#!/usr/bin/env node
// `npm run build`, second step after `tsc`: the server bundled into one file, dist/server.bundle.mjs,
// which `npm start` runs. Node's ES module loader reading ~700 module files (oidc-provider, the MCP
// SDK, zod, express) was most of the start-up time; one file is read and compiled once.
// With --bench (`npm run build:bench`, which `npm run bench` and `npm test` run), the benchmark's
// server under test (bench/server-under-test.ts: the same server plus a memory channel) is bundled
// the same way, so the benchmark measures what `npm start` runs; a plain build leaves it out.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const bundles = [
  { entry: path.join(root, 'dist', 'index.js'), outfile: path.join(root, 'dist', 'server.bundle.mjs') },
  ...(process.argv.includes('--bench')
    ? [{ entry: path.join(root, 'bench', 'server-under-test.ts'), outfile: path.join(root, 'dist', 'bench-server.bundle.mjs') }]
    : []),
];

await Promise.all(bundles.map(({ entry, outfile }) => build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.18',
  sourcemap: true,
  // A native addon: loaded by its own package from node_modules at run time, where it finds its .node file.
  external: ['better-sqlite3'],
  // CommonJS dependencies bundled into an ES module still call require() and read __filename/__dirname.
  banner: {
    js: [
      "import { createRequire as __bundleCreateRequire } from 'node:module';",
      "import { fileURLToPath as __bundleFileURLToPath } from 'node:url';",
      "import { dirname as __bundleDirname } from 'node:path';",
      'const require = __bundleCreateRequire(import.meta.url);',
      'const __filename = __bundleFileURLToPath(import.meta.url);',
      'const __dirname = __bundleDirname(__filename);',
    ].join('\n'),
  },
  logLevel: 'warning',
})));
