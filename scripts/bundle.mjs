#!/usr/bin/env node
// `npm run build`, second step: the compiled server (dist/index.js, from tsc) bundled into one file,
// dist/server.bundle.mjs, which `npm start` runs. Node's ES module loader reading ~700 module files
// (oidc-provider, the MCP SDK, zod, express) was most of the start-up time; one file reads once.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

await build({
  entryPoints: [path.join(root, 'dist', 'index.js')],
  outfile: path.join(root, 'dist', 'server.bundle.mjs'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.18',
  sourcemap: true,
  // Native addon: loaded by its own package from node_modules at run time (bindings resolves the .node file).
  external: ['better-sqlite3'],
  // CommonJS dependencies bundled into ESM still call require() and read __filename/__dirname.
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
});
