/**
 * BENCHMARK ONLY, run by hand: `node --import tsx bench/probe-bare.ts [runs]`. The OAuth dance
 * (bench/oauth-dance.ts, unchanged) against our bench server and the bare oidc-provider
 * (bench/bare-provider.ts) side by side: server by server and client by client alternating
 * within each run, so both see the same moments of a shared machine. Medians per step and in all,
 * and the HTTP requests one dance makes at each. Also each server's CPU time per dance pair (its
 * main thread, i.e. the event loop, from /proc/<pid>/task/<pid>/stat, and the whole process), which
 * a busy machine inflates far less than wall time. PROFILE=<folder>: both servers profiled
 * (bench/cpu-profile-preload.mjs) into <folder>/ours.cpuprofile and bare.cpuprofile. Runs the bundled server
 * under test, dist/bench-server.bundle.mjs: `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ADMIN } from '../test/support/server-process.js';
import { startBareProvider } from './processes.js';
import { withLeanFetch } from './lean-fetch.js';
import { firstTimeDance, reauthorization, type DanceRun, type DanceStep } from './oauth-dance.js';
import { cpuMicros, pinThisProcess, startBenchServer } from './processes.js';
import { median, round } from './stats.js';

const RUNS = Number(process.argv[2] ?? 20);
const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
const STEPS: DanceStep[] = ['discovery', 'registration', 'authorize', 'signIn', 'consent', 'token', 'firstCall'];

interface Series {
  first: DanceRun[];
  again: DanceRun[];
  requestsFirst: number[];
  requestsAgain: number[];
  /** Server CPU ms over one first-time dance plus its re-authorization: main thread, whole process. */
  mainCpuMs: number[];
  processCpuMs: number[];
}
const series = (): Series => ({ first: [], again: [], requestsFirst: [], requestsAgain: [], mainCpuMs: [], processCpuMs: [] });

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
/** CPU time of the process's main thread (the event loop), in ms; /proc's resolution is one tick. */
function mainThreadCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** What a request was, ids left out: `POST /interaction/:uid/login`. */
function requestLabel(input: Parameters<typeof fetch>[0], init: RequestInit | undefined): string {
  const url = new URL(input instanceof Request ? input.url : input);
  const path = url.pathname.replace(/^\/(interaction|auth)\/[^/]+/, '/$1/:uid');
  const rpc = path === '/mcp' && typeof init?.body === 'string' ? ` ${(JSON.parse(init.body) as { method?: string }).method}` : '';
  return `${init?.method ?? 'GET'} ${path}${rpc}`;
}

/**
 * Milliseconds per request label, while the lean client is installed (its promise settles with the
 * whole body read, so the time is the whole request; Node's fetch settles at the headers).
 */
const perRequest = { ours: new Map<string, number[]>(), bare: new Map<string, number[]>() };

/** Counts the requests `work` makes through whichever fetch is installed, and times them into `timings`. */
async function counted<T>(work: () => Promise<T>, timings?: Map<string, number[]>): Promise<{ value: T; requests: number }> {
  const inner = globalThis.fetch;
  let requests = 0;
  globalThis.fetch = (async (...args: Parameters<typeof fetch>) => {
    requests += 1;
    const start = performance.now();
    const response = await inner(...args);
    const label = requestLabel(args[0], args[1]);
    timings?.set(label, [...(timings.get(label) ?? []), performance.now() - start]);
    return response;
  }) as typeof fetch;
  try {
    return { value: await work(), requests };
  } finally {
    globalThis.fetch = inner;
  }
}

const pinned = pinThisProcess();
const profile = process.env.PROFILE;
const preload = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cpu-profile-preload.mjs');
const profiled = (name: string): Record<string, string> => (profile ? { NODE_OPTIONS: `--import ${preload}`, CPU_PROFILE_OUT: path.resolve(profile, `${name}.cpuprofile`) } : {});
// PASSWORD_HASH_COST=10 (the lowest allowed): scrypt in about a millisecond, so our sign-in step is
// measured nearly without it instead of less a verification timed apart, whose own spread on a busy
// machine (~175 ms at the default cost) is larger than the whole gap being looked for.
const hashCost: Record<string, string> = process.env.PASSWORD_HASH_COST ? { PASSWORD_HASH_COST: process.env.PASSWORD_HASH_COST } : {};
const ours = await startBenchServer({ env: { ...profiled('ours'), ...hashCost } });
const bare = await startBareProvider(ADMIN, { env: profiled('bare') });
const verifications: number[] = [];
const results = { ours: { lean: series(), fetch: series() }, bare: { lean: series(), fetch: series() } };

async function pair(server: 'ours' | 'bare', client: 'lean' | 'fetch', into: Series | undefined): Promise<void> {
  const target = server === 'ours' ? ours : bare;
  const cpuBefore = { main: mainThreadCpuMs(target.pid), process: cpuMicros(target.pid) / 1000 };
  const run = async () => {
    const timings = into && client === 'lean' ? perRequest[server] : undefined;
    const first = await counted(() => firstTimeDance(target, ADMIN), timings);
    const again = await counted(() => reauthorization(target, ADMIN, first.value), timings);
    return { first, again };
  };
  const { first, again } = client === 'lean' ? await withLeanFetch(run) : await run();
  const cpuAfter = { main: mainThreadCpuMs(target.pid), process: cpuMicros(target.pid) / 1000 };
  // Our sign-in runs scrypt; the server times one verification right after, as bench/dance.ts does.
  const verifyMs = server === 'ours' ? await ours.verifyPasswordMs(Number(hashCost.PASSWORD_HASH_COST ?? 15)) : 0;
  if (!into) return;
  if (server === 'ours') verifications.push(verifyMs);
  const withoutPassword = { ...first.value, totalMs: first.value.totalMs - verifyMs, steps: { ...first.value.steps, signIn: (first.value.steps.signIn ?? Number.NaN) - verifyMs } };
  into.first.push(withoutPassword);
  into.again.push(again.value);
  into.requestsFirst.push(first.requests);
  into.requestsAgain.push(again.requests);
  into.mainCpuMs.push(cpuAfter.main - cpuBefore.main);
  // The sign-in's scrypt runs on libuv's pool: counted in the process, not on the main thread.
  into.processCpuMs.push(cpuAfter.process - cpuBefore.process);
}

try {
  for (const server of ['ours', 'bare'] as const) for (const client of ['lean', 'fetch'] as const) await pair(server, client, undefined);
  for (let index = 0; index < RUNS; index += 1) {
    const combos = (['ours', 'bare'] as const).flatMap((server) => (['lean', 'fetch'] as const).map((client) => [server, client] as const));
    // Rotated each run, so no combination always follows the same one.
    const order = [...combos.slice(index % combos.length), ...combos.slice(0, index % combos.length)];
    for (const [server, client] of order) await pair(server, client, results[server][client]);
  }
  const summary = (runs: DanceRun[]) => ({
    total: round(median(runs.map((run) => run.totalMs)), 1),
    ...Object.fromEntries(STEPS.map((step) => [step, round(median(runs.map((run) => run.steps[step] ?? Number.NaN)), 1)])),
  });
  const report = Object.fromEntries((['ours', 'bare'] as const).flatMap((server) => (['lean', 'fetch'] as const).map((client) => {
    const s = results[server][client];
    return [`${server}/${client}`, {
      firstTime: summary(s.first),
      reauthorization: summary(s.again),
      // Ticks of 10 ms: the mean over all runs, not the median, is what resolves below a tick.
      serverCpuMsPerPair: { mainThread: round(mean(s.mainCpuMs), 1), process: round(mean(s.processCpuMs), 1) },
      requests: { firstTime: [...new Set(s.requestsFirst)], reauthorization: [...new Set(s.requestsAgain)] },
    }];
  })));
  const requestMedians = Object.fromEntries([...perRequest.ours.keys()].map((label) => {
    const of = (timings: Map<string, number[]>) => round(median(timings.get(label) ?? []), 2);
    return [label, { ours: of(perRequest.ours), bare: of(perRequest.bare), perDancePair: round((perRequest.ours.get(label)?.length ?? 0) / RUNS, 1) }];
  }));
  console.log(JSON.stringify({ runs: RUNS, pinned, passwordHashCost: hashCost.PASSWORD_HASH_COST ?? 'default', passwordVerifyMs: round(median(verifications), 1), report, leanRequestMedians: requestMedians }, null, 2));
  const errors = bare.errors().trim();
  if (errors) console.error(`bare provider stderr:\n${errors}`);
} finally {
  await Promise.all([ours.stop(), bare.stop()]);
}
