import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { atExit } from '../test/support/at-exit.js';
import { freePort } from '../test/support/free-port.js';
import { ADMIN, SERVER_ENTRY } from '../test/support/server-process.js';
import { tempDir } from '../test/support/temp-dir.js';
import { ABUSE_LIMITS_RAISED, ROOT, SERVER_CORE } from './processes.js';
import { median, round } from './stats.js';

/**
 * Start-up time to the first served request: `node dist/server.bundle.mjs` (what `npm start` runs
 * after building) pinned to the server core, from spawning the process to the answer to its first
 * request (GET /healthz, which reads the store), on a fresh data directory (database created,
 * keys generated, the admin password hashed) and on a restart with the same directory.
 */
export interface StartupResult {
  runs: number;
  freshMs: number;
  restartMs: number;
}

async function startAndServeOnce(dataDir: string, entry: string): Promise<number> {
  const port = await freePort();
  const start = performance.now();
  const child = spawn('taskset', ['-c', String(SERVER_CORE), process.execPath, entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), DATA_DIR: dataDir, ADMIN_PASSWORD: ADMIN.password, ...ABUSE_LIMITS_RAISED },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const forget = atExit('processes', () => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not start within 20 s:\n${output}`)), 20_000);
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes(' is running at ')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`the server exited with ${code}:\n${output}`)));
    });
    const answer = await fetch(`http://localhost:${port}/healthz`, { signal: AbortSignal.timeout(10_000) });
    await answer.text();
    const elapsed = performance.now() - start;
    if (answer.status !== 200) throw new Error(`GET /healthz answered ${answer.status}`);
    return elapsed;
  } finally {
    child.kill('SIGTERM');
    const code = await exited;
    forget();
    if (code !== 0) throw new Error(`the server did not stop cleanly (exit ${code}):\n${output}`);
  }
}

export async function measureStartup(options: { runs: number; log: (line: string) => void }): Promise<StartupResult> {
  const entry = path.join(ROOT, SERVER_ENTRY);
  const fresh: number[] = [];
  const restart: number[] = [];
  for (let index = 0; index < options.runs; index += 1) {
    const dataDir = tempDir('bench-startup');
    fresh.push(await startAndServeOnce(dataDir, entry));
    restart.push(await startAndServeOnce(dataDir, entry));
  }
  const result = { runs: options.runs, freshMs: round(median(fresh), 0), restartMs: round(median(restart), 0) };
  options.log(`  start-up to the first served request: fresh ${result.freshMs} ms, restart ${result.restartMs} ms`);
  return result;
}
