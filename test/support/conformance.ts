import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked } from './child-process.js';
import { escapeRegExp } from './reg-exp.js';
import { nodeBinary, packageFile } from './third-party.js';

/**
 * Running the official MCP conformance CLI (test/third-party): 0.1.16 is
 * `@modelcontextprotocol/conformance`, the 0.2.0 pre-release is installed as `conformance-next`.
 * Both need Node.js 22 or newer, so they run on the bundled Node 22 whatever runs the tests.
 */
export type ConformancePackage = '@modelcontextprotocol/conformance' | 'conformance-next';

export type CheckStatus = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';

/** One entry of a scenario's checks.json. */
export interface Check {
  id: string;
  name: string;
  status: CheckStatus;
  description?: string;
  errorMessage?: string;
  details?: Record<string, unknown>;
}

export interface ConformanceOptions {
  /** Adds `Authorization: Bearer <token>` to the suite's requests to `origin` (test/support/conformance-bearer.mjs). */
  bearer?: { token: string; origin: string };
  /** Killed after this long (the run then fails with what it printed). */
  timeoutMs: number;
}

export interface ConformanceRun {
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects after `timeoutMs` or if the suite exits first. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** The exit code (null if killed). */
  exited: Promise<number | null>;
}

const PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'conformance-bearer.mjs');

function conformanceCli(pkg: ConformancePackage): string {
  return packageFile(pkg, 'dist/index.js');
}

/** Starts `conformance <args…>` from `pkg`. */
export function startConformance(pkg: ConformancePackage, args: string[], options: ConformanceOptions): ConformanceRun {
  const cli = conformanceCli(pkg);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  const nodeArgs: string[] = [];
  if (options.bearer) {
    nodeArgs.push('--import', PRELOAD);
    env.CONFORMANCE_BEARER_TOKEN = options.bearer.token;
    env.CONFORMANCE_TARGET_ORIGIN = options.bearer.origin;
    env.CONFORMANCE_PACKAGE_DIR = path.dirname(path.dirname(cli));
  }
  const child = spawnTracked(nodeBinary('node22'), [...nodeArgs, cli, ...args], { env });
  let output = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    listeners.forEach((listener) => listener());
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  // 'close', not 'exit': by then all of its output has been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    clearTimeout(killer);
    listeners.forEach((listener) => listener());
    resolve(code);
  }));
  return {
    output: () => output,
    exited,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(output);
          if (match) finish(() => resolve(match));
          else if (child.exitCode !== null || child.signalCode !== null) finish(() => reject(new Error(`the suite exited before printing ${pattern}:\n${output}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`the suite did not print ${pattern} within ${timeoutMs} ms:\n${output}`))), timeoutMs);
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs `conformance <args…>` to the end. */
export async function runConformance(pkg: ConformancePackage, args: string[], options: ConformanceOptions): Promise<{ code: number | null; output: string }> {
  const run = startConformance(pkg, args, options);
  const code = await run.exited;
  return { code, output: run.output() };
}

/** The scenario names `conformance list --server` (or `--authorization`) prints. */
export function listScenarios(pkg: ConformancePackage, kind: '--server' | '--authorization'): string[] {
  const result = spawnSync(nodeBinary('node22'), [conformanceCli(pkg), 'list', kind], { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH } });
  if (result.status !== 0) throw new Error(`conformance list ${kind} failed: ${result.stderr}${result.stdout}`);
  return [...result.stdout.matchAll(/^\s+- (\S+)/gm)].map((match) => match[1]!);
}

/**
 * The checks a scenario wrote under `-o dir`: the suite makes one folder per run,
 * `<kind>-<scenario>-<ISO time>/checks.json`. Undefined if the scenario left none.
 */
export function readChecks(dir: string, kind: 'server' | 'authorization-server', scenario: string): Check[] | undefined {
  const pattern = new RegExp(`^${kind}-${escapeRegExp(scenario)}-\\d{4}-\\d{2}-\\d{2}T`);
  const folder = fs.readdirSync(dir).find((name) => pattern.test(name));
  if (!folder) return undefined;
  return JSON.parse(fs.readFileSync(path.join(dir, folder, 'checks.json'), 'utf8')) as Check[];
}

/** `id: message` of each check with one of `statuses`, for failure messages and diagnostics. */
export function describeChecks(checks: Check[], statuses: CheckStatus[]): string[] {
  return checks.filter((check) => statuses.includes(check.status)).map((check) => `${check.status} ${check.id}${check.errorMessage ? `: ${check.errorMessage}` : ''}`);
}
