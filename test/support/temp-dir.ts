import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { atExit } from './at-exit.js';

/**
 * A fresh folder under the system's temporary directory (`uuid-mcp-<prefix>-…`), removed when the
 * test process ends, not before: a restart test reuses a server's data folder after stopping it.
 */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `uuid-mcp-${prefix}-`));
  atExit('files', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
