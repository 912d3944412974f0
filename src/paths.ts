import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project root, whether running from source (src/paths.ts, under tsx), compiled
 * (dist/src/paths.js) or bundled (dist/server.bundle.mjs, one level under the root, what
 * `npm start` runs), so `public/` and package.json are found either way.
 */
function projectRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const parent = path.dirname(here);
  return path.basename(parent) === 'dist' ? path.dirname(parent) : parent;
}

export const ROOT_DIR = projectRoot();
export const PUBLIC_DIR = path.join(ROOT_DIR, 'public');
