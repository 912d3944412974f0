import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, type TrackedChild } from './child-process.js';
import { freePort } from './free-port.js';
import { type Person } from './person-at-browser.js';
import { tempDir } from './temp-dir.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** What `npm start` runs: the server bundled into one file by `npm run build` (scripts/bundle.mjs). */
export const SERVER_ENTRY = path.join('dist', 'server.bundle.mjs');

export const ADMIN: Person = { username: 'admin', password: 'test-admin-password-1' };

export interface ServerProcess {
  url: string;
  mcpUrl: string;
  /** The legacy HTTP+SSE endpoint (served unless LEGACY_SSE=false or STATELESS=true). */
  sseUrl: string;
  port: number;
  dataDir: string;
  child: TrackedChild;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM and wait: the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait: no chance to flush or close anything. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Reuse a data directory (restart tests); a fresh temporary one otherwise. */
  dataDir?: string;
  port?: number;
  /** Another Node.js binary, and the checkout (built for it) to run; default: this node, this checkout. */
  node?: string;
  root?: string;
}

/** Starts the real server (the built SERVER_ENTRY, as `npm start` does) on a free port. */
export async function startServerProcess(options: StartOptions = {}): Promise<ServerProcess> {
  const root = options.root ?? ROOT;
  const entry = path.join(root, SERVER_ENTRY);
  if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` (npm test does it first)`);
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? tempDir('data');
  const child = spawnTracked(options.node ?? process.execPath, [entry], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      DATA_DIR: dataDir,
      ADMIN_PASSWORD: ADMIN.password,
      REGISTRATION_RATE_LIMIT: '100000',
      LOGIN_RATE_LIMIT: '100000',
      LOGIN_FAILURES_BEFORE_BACKOFF: '100000',
      TOKEN_RATE_LIMIT: '100000',
      ...options.env,
    },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // 'close', not 'exit': by then stdout and stderr are drained, so output() holds every line the process wrote.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running: its open pipes would keep the test process alive until the runner's timeout.
      child.kill('SIGKILL');
      reject(new Error(`server did not start within 20 s:\n${output}`));
    }, 20_000);
    const check = () => {
      if (output.includes(' is running at ')) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve();
      }
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${output}`));
    });
  });

  const url = options.env?.PUBLIC_URL ?? `http://localhost:${port}`;
  return {
    url,
    mcpUrl: `${url}/mcp`,
    sseUrl: `${url}/sse`,
    port,
    dataDir,
    child,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Adds a local account with the real `npm run user -- add` command (its compiled form), as an operator would. */
export function addUser(dataDir: string, person: Person, displayName?: string): void {
  const args = [path.join(ROOT, 'dist', 'scripts', 'user.js'), 'add', person.username, '--password-stdin', ...(displayName ? ['--name', displayName] : [])];
  const result = spawnSync(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH, DATA_DIR: dataDir }, input: `${person.password}\n`, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`npm run user -- add ${person.username} failed: ${result.stderr}${result.stdout}`);
}

/**
 * What an operator's restart does: stop the server (SIGTERM, fails unless it exits cleanly), then
 * start it again on the same port and data directory, so its URL, issuer and every client's stored
 * server URL stay the same. `options` are the new process's (its environment, for instance).
 */
export async function restartServer(server: ServerProcess, options: Omit<StartOptions, 'dataDir' | 'port'> = {}): Promise<ServerProcess> {
  const code = await server.stop();
  if (code !== 0) throw new Error(`the server did not shut down cleanly (exit ${code}):\n${server.output()}`);
  const restarted = await startServerProcess({ ...options, dataDir: server.dataDir, port: server.port });
  if (restarted.url !== server.url) throw new Error(`restarted at ${restarted.url}, not ${server.url}`);
  return restarted;
}
