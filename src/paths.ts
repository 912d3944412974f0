import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project root, whether running from source (src/paths.ts, under tsx) or compiled
 * (dist/src/paths.js), so `public/` is found either way.
 */
function projectRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const parent = path.dirname(here);
  return path.basename(parent) === 'dist' ? path.dirname(parent) : parent;
}

export const ROOT_DIR = projectRoot();
export const PUBLIC_DIR = path.join(ROOT_DIR, 'public');
