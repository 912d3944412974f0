import { loadConfig } from '../src/config.js';
import { ADMIN } from '../test/support/server-process.js';
import type { ServerLike } from '../test/support/raw-oauth.js';
import { firstTimeDance, reauthorization, type DanceRun, type DanceStep } from './oauth-dance.js';
import { withLeanFetch } from './lean-fetch.js';
import { startBareProvider, startBenchServer } from './processes.js';
import { median, round } from './stats.js';

/**
 * The whole first-time OAuth dance and a re-authorization with a remembered consent, `runs` times
 * each, on an otherwise idle server: median milliseconds, in all and per step.
 *
 * Two clients, alternating run by run on the same server: the benchmark's lean one (bench/
 * lean-fetch.ts: node:http with keep-alive), whose figures are the ones held to the targets since
 * they are the server's time plus loopback round trips; and Node's own fetch, what the SDK client
 * uses (a lone loopback request here: 0.6 ms with the one, 1.5 ms with the other).
 *
 * And bare oidc-provider (bench/bare-provider.ts: the same library and flow, same request count, an
 * in-memory store, minimal pages, nothing else), lean client, in the same rotation: the floor any
 * server built on oidc-provider starts from on this machine, as the raw echo is the ceiling for
 * tool calls.
 *
 * Sign-in verifies the password with scrypt, at cost 15 by default (PASSWORD_HASH_COST): ~150–200 ms
 * here, slow on purpose, with a spread of its own larger than the rest of the dance. So the dance's
 * server runs at the lowest cost the setting allows (10, ~2 ms), the server process times one check
 * at that cost after each run (bench/server-under-test.ts) and it is taken off that run: what is
 * left is the protocol's own cost, held to the target. The dance as a user of a default server
 * lives it is that plus the check at the default cost, timed the same way in the same process.
 */
export interface DanceOptions {
  runs: number;
  log: (line: string) => void;
}

export interface DanceSummary {
  medianMs: number;
  /** As run: sign-in includes the check at the dance's cost (10). */
  stepsMedianMs: Partial<Record<DanceStep, number>>;
}

export interface ClientDance {
  firstTime: DanceSummary & { withoutPasswordMs: number };
  reauthorization: DanceSummary;
}

export interface DanceResult extends ClientDance {
  runs: number;
  /** The server's default scrypt cost, and one verification at it in the server process, median ms. */
  passwordHashCost: number;
  passwordVerifyMs: number;
  /** The same dances with Node's fetch as the client (not held to the targets). */
  withNodeFetch: ClientDance;
  floor: DanceFloor;
}

/** The server's default cost, and the lowest it accepts (the dance's server runs at that). */
const PASSWORD_HASH_COST = loadConfig({}).passwordHashCost;
const DANCE_HASH_COST = 10;

function summarize(runs: DanceRun[]): DanceSummary {
  const steps = new Set(runs.flatMap((run) => Object.keys(run.steps) as DanceStep[]));
  return {
    medianMs: round(median(runs.map((run) => run.totalMs)), 1),
    stepsMedianMs: Object.fromEntries([...steps].map((step) => [step, round(median(runs.map((run) => run.steps[step] ?? Number.NaN)), 1)])),
  };
}

interface Runs {
  first: DanceRun[];
  again: DanceRun[];
  /** Each first-time run's total less the password verification timed right after it. */
  withoutPassword: number[];
}

/** `defaultCheckMs`: the check at the default cost, which the first-time dance then includes. */
function summarizeClient(runs: Runs, defaultCheckMs: number): ClientDance {
  const withoutPasswordMs = median(runs.withoutPassword);
  return {
    firstTime: { ...summarize(runs.first), medianMs: round(withoutPasswordMs + defaultCheckMs, 1), withoutPasswordMs: round(withoutPasswordMs, 1) },
    reauthorization: summarize(runs.again),
  };
}

/** The same dances against bare oidc-provider (bench/bare-provider.ts), lean client: the floor. */
export interface DanceFloor {
  firstTimeMs: number;
  reauthorizationMs: number;
  /** Ours ÷ the floor, the median of per-run ratios (first-time without the password check). */
  firstTimeRatio: number;
  reauthorizationRatio: number;
}

export async function measureDance(options: DanceOptions): Promise<DanceResult> {
  const server = await startBenchServer({ env: { PASSWORD_HASH_COST: String(DANCE_HASH_COST) } });
  const bare = await startBareProvider(ADMIN).catch(async (error: unknown) => {
    await server.stop();
    throw error;
  });
  try {
    const lean: Runs = { first: [], again: [], withoutPassword: [] };
    const nodeFetch: Runs = { first: [], again: [], withoutPassword: [] };
    const floor: Runs = { first: [], again: [], withoutPassword: [] };
    /** A first-time dance and its re-authorization, recorded in `into` (none: a warm-up) less the password check its sign-in made. */
    const pair = async (target: ServerLike, into: Runs | undefined, checkMs: () => Promise<number>) => {
      const first = await firstTimeDance(target, ADMIN);
      const again = await reauthorization(target, ADMIN, first);
      const verifyMs = await checkMs();
      if (!into) return;
      into.first.push(first);
      into.again.push(again);
      into.withoutPassword.push(first.totalMs - verifyMs);
    };
    const ourCheck = () => server.verifyPasswordMs(DANCE_HASH_COST);
    // The floor's password check is a plain comparison: nothing to take off.
    const noCheck = async () => 0;
    const kinds: Array<(counted: boolean) => Promise<void>> = [
      (counted) => withLeanFetch(() => pair(server, counted ? lean : undefined, ourCheck)),
      (counted) => pair(server, counted ? nodeFetch : undefined, ourCheck),
      (counted) => withLeanFetch(() => pair(bare, counted ? floor : undefined, noCheck)),
    ];
    for (const kind of kinds) await kind(false);
    for (let index = 0; index < options.runs; index += 1) {
      // Each run in another order, so none always follows another.
      for (let offset = 0; offset < kinds.length; offset += 1) await kinds[(index + offset) % kinds.length]!(true);
    }
    const defaultChecks: number[] = [];
    for (let index = 0; index < Math.max(5, Math.ceil(options.runs / 2)); index += 1) defaultChecks.push(await server.verifyPasswordMs(PASSWORD_HASH_COST));
    const defaultCheckMs = median(defaultChecks);
    const perRun = (ours: number[], theirs: number[]) => round(median(ours.map((value, index) => value / theirs[index]!)), 2);
    const result: DanceResult = {
      runs: options.runs,
      passwordHashCost: PASSWORD_HASH_COST,
      passwordVerifyMs: round(defaultCheckMs, 1),
      ...summarizeClient(lean, defaultCheckMs),
      withNodeFetch: summarizeClient(nodeFetch, defaultCheckMs),
      floor: {
        firstTimeMs: round(median(floor.withoutPassword), 1),
        reauthorizationMs: round(median(floor.again.map((run) => run.totalMs)), 1),
        firstTimeRatio: perRun(lean.withoutPassword, floor.withoutPassword),
        reauthorizationRatio: perRun(lean.again.map((run) => run.totalMs), floor.again.map((run) => run.totalMs)),
      },
    };
    options.log(`  first-time dance ${result.firstTime.withoutPasswordMs} ms without the password check (${result.firstTime.medianMs} ms with it, ${result.passwordVerifyMs} ms); re-authorization ${result.reauthorization.medianMs} ms`);
    options.log(`  with Node's fetch as the client: ${result.withNodeFetch.firstTime.withoutPasswordMs} ms and ${result.withNodeFetch.reauthorization.medianMs} ms`);
    options.log(`  bare oidc-provider (the floor): ${result.floor.firstTimeMs} ms and ${result.floor.reauthorizationMs} ms; ours ÷ floor ${result.floor.firstTimeRatio}× and ${result.floor.reauthorizationRatio}×`);
    return result;
  } finally {
    await Promise.all([server.stop(), bare.stop()]);
  }
}
