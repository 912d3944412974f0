import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { atExit } from '../test/support/at-exit.js';
import { freePort } from '../test/support/free-port.js';
import { ADMIN } from '../test/support/server-process.js';
import { tempDir } from '../test/support/temp-dir.js';
import type { Person } from '../test/support/person-at-browser.js';
import type { FromServer, ToServer } from './server-under-test.js';

/**
 * The processes the benchmark measures, each pinned to SERVER_CORE with `taskset` while the
 * benchmark itself (the load generator) runs on LOAD_CORE, and the server CPU time each one used,
 * read from /proc/<pid>/stat (utime + stime).
 */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SERVER_CORE = 1;
export const LOAD_CORE = 0;

/** Limits a real deployment keeps low, raised so that the benchmark measures work and not refusals. */
export const ABUSE_LIMITS_RAISED = {
  REGISTRATION_RATE_LIMIT: '1000000',
  LOGIN_RATE_LIMIT: '1000000',
  TOKEN_RATE_LIMIT: '1000000',
};

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time (user + system) the process has used so far, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may itself contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

/** Runs the rest of this process (the load generator) on LOAD_CORE; false when taskset is missing or fails. */
export function pinThisProcess(): boolean {
  return spawnSync('taskset', ['-cp', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

export interface Memory {
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
}

export interface BenchProcess {
  pid: number;
  port: number;
  /** Memory of the process, after a full garbage collection when `gc`. */
  memory(gc: boolean): Promise<Memory>;
  /** Asks it to stop (graceful), then waits; SIGKILL after 5 s. */
  stop(): Promise<void>;
  /** What it wrote to stderr. */
  errors(): string;
}

export interface BenchServer extends BenchProcess {
  /** One scrypt verification at `cost` (log2 N), timed inside the server process (ms). */
  verifyPasswordMs(cost: number): Promise<number>;
  url: string;
  mcpUrl: string;
  dataDir: string;
}

/** The server under test, bundled by `npm run build:bench` like the server `npm start` runs. */
const BENCH_SERVER = path.join('dist', 'bench-server.bundle.mjs');

/**
 * BENCH_CPU_PROF=<folder>: every process the benchmark starts writes a CPU profile there when it
 * exits (one file per process, named by the script and the order it was started in), to see where
 * a figure's time goes.
 */
let profiled = 0;
function profiling(script: string): string[] {
  const folder = process.env.BENCH_CPU_PROF;
  if (!folder) return [];
  profiled += 1;
  return ['--cpu-prof', `--cpu-prof-dir=${path.resolve(folder)}`, `--cpu-prof-name=${String(profiled).padStart(2, '0')}-${path.basename(script).replace(/\..*$/, '')}.cpuprofile`, '--cpu-prof-interval=200'];
}

/** `script`: a file under the root, run with plain node if it is JavaScript, with tsx if TypeScript. */
function startChild(script: string, args: string[], env: Record<string, string>, pin: boolean): Promise<{ child: ChildProcess; port: number; errors: () => string }> {
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const node = [process.execPath, '--expose-gc', ...profiling(script), ...loader, path.join(ROOT, script), ...args];
  const [command, ...commandArgs] = pin ? ['taskset', '-c', String(SERVER_CORE), ...node] : node;
  // stdout (the access log) goes nowhere, as cheaply as a production log pipe that keeps up.
  const child = spawn(command!, commandArgs, { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const forget = atExit('processes', () => child.kill('SIGKILL'));
  child.once('exit', forget);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start within 30 s:\n${stderr}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready:\n${stderr}`));
    });
    child.on('message', function ready(message: FromServer) {
      if (message.type === 'failed') reject(new Error(`${script} failed to start: ${message.message}`));
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      child.off('message', ready);
      resolve({ child, port: message.port, errors: () => stderr });
    });
  });
}

function controls(child: ChildProcess, port: number, errors: () => string): BenchProcess & Pick<BenchServer, 'verifyPasswordMs'> {
  let queue: Promise<unknown> = Promise.resolve();
  /** One question at a time: answers come back in order on the one channel. */
  const ask = <K extends FromServer['type'], T>(question: ToServer, kind: K, answerOf: (message: Extract<FromServer, { type: K }>) => T): Promise<T> => {
    const answer = queue.then(() => new Promise<T>((resolve, reject) => {
      const onMessage = (message: FromServer) => {
        if (message.type !== kind) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(answerOf(message as Extract<FromServer, { type: K }>));
      };
      const onExit = () => reject(new Error(`the process exited while asked for ${kind}:\n${errors()}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(question);
    }));
    queue = answer.catch(() => undefined);
    return answer;
  };
  const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  return {
    pid: child.pid!,
    port,
    errors,
    memory(gc) {
      return ask({ type: 'memory', gc }, 'memory', ({ heapUsed, heapTotal, rss, external }) => ({ heapUsed, heapTotal, rss, external }));
    },
    verifyPasswordMs(cost) {
      return ask({ type: 'verify-password', cost }, 'verify-password', ({ ms }) => ms);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.connected) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface ServerOptions {
  /** Settings on top of the defaults (fresh data directory, a free port, known admin password, abuse limits raised). */
  env?: Record<string, string>;
  /** The same app with the bearer check replaced by a fixed caller. */
  authOff?: boolean;
  /** Pin to SERVER_CORE (the benchmark); the CI soak test runs unpinned. */
  pin?: boolean;
}

/** Starts bench/server-under-test.ts (bundled, BENCH_SERVER): the built server, with a memory/gc channel. */
export async function startBenchServer(options: ServerOptions = {}): Promise<BenchServer> {
  const port = await freePort();
  const dataDir = tempDir('bench');
  const env = { PORT: String(port), DATA_DIR: dataDir, ADMIN_PASSWORD: ADMIN.password, ...ABUSE_LIMITS_RAISED, ...options.env };
  const started = await startChild(BENCH_SERVER, options.authOff ? ['--auth-off'] : [], env, options.pin ?? true);
  const url = `http://localhost:${started.port}`;
  return { ...controls(started.child, started.port, started.errors), url, mcpUrl: `${url}/mcp`, dataDir };
}

/**
 * Starts bench/bare-provider.ts, the floor for the OAuth dance: the same oidc-provider with an
 * in-memory adapter, minimal pages for `person` and no Express, SQLite or security layers of ours.
 */
export async function startBareProvider(person: Person, options: Pick<ServerOptions, 'pin'> = {}): Promise<BenchProcess & { url: string; mcpUrl: string }> {
  const env = { BARE_USERNAME: person.username, BARE_PASSWORD: person.password };
  const started = await startChild(path.join('bench', 'bare-provider.ts'), [], env, options.pin ?? true);
  const url = `http://localhost:${started.port}`;
  return { ...controls(started.child, started.port, started.errors), url, mcpUrl: `${url}/mcp` };
}

/** Starts bench/raw-echo.ts, the ceiling. */
export async function startRawEcho(): Promise<BenchProcess> {
  const started = await startChild(path.join('bench', 'raw-echo.ts'), [], {}, true);
  return controls(started.child, started.port, started.errors);
}
