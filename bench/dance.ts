import { loadConfig } from '../src/config.js';
import { ADMIN } from '../test/support/server-process.js';
import { firstTimeDance, reauthorization, type DanceRun, type DanceStep } from './oauth-dance.js';
import { withLeanFetch } from './lean-fetch.js';
import { startBenchServer } from './processes.js';
import { median, round } from './stats.js';

/**
 * The whole first-time OAuth dance and a re-authorization with a remembered consent, `runs` times
 * each, on an otherwise idle server: median milliseconds, in all and per step.
 *
 * Two clients, alternating run by run on the same server: the benchmark's lean one (bench/
 * lean-fetch.ts: node:http with keep-alive), whose figures are the ones held to the targets since
 * they are the server's time plus loopback round trips; and Node's own fetch, what the SDK client
 * uses, which on these machines adds about 1 ms of client-side work to each of the dance's ~15
 * requests.
 *
 * Sign-in verifies the password with scrypt at the server's default cost (PASSWORD_HASH_COST=15),
 * slow on purpose and never lowered for the benchmark. After each first-time dance the server
 * process itself times one verification at that cost (bench/server-under-test.ts), and that run
 * is also reported without it, so the protocol's own cost is visible.
 */
export interface DanceOptions {
  runs: number;
  log: (line: string) => void;
}

export interface DanceSummary {
  medianMs: number;
  stepsMedianMs: Partial<Record<DanceStep, number>>;
}

export interface ClientDance {
  firstTime: DanceSummary & { withoutPasswordMs: number };
  reauthorization: DanceSummary;
}

export interface DanceResult extends ClientDance {
  runs: number;
  passwordHashCost: number;
  /** One scrypt verification at that cost in the server process, median ms. */
  passwordVerifyMs: number;
  /** The same dances with Node's fetch as the client (not held to the targets). */
  withNodeFetch: ClientDance;
}

/** The server's default cost, which the benchmark's servers run with (none of them sets PASSWORD_HASH_COST). */
const PASSWORD_HASH_COST = loadConfig({}).passwordHashCost;

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

function summarizeClient(runs: Runs): ClientDance {
  return {
    firstTime: { ...summarize(runs.first), withoutPasswordMs: round(median(runs.withoutPassword), 1) },
    reauthorization: summarize(runs.again),
  };
}

export async function measureDance(options: DanceOptions): Promise<DanceResult> {
  const server = await startBenchServer();
  try {
    const lean: Runs = { first: [], again: [], withoutPassword: [] };
    const nodeFetch: Runs = { first: [], again: [], withoutPassword: [] };
    const verifications: number[] = [];
    const pair = async (into: Runs | undefined) => {
      const first = await firstTimeDance(server, ADMIN);
      const again = await reauthorization(server, ADMIN, first);
      const verifyMs = await server.verifyPasswordMs();
      if (!into) return;
      into.first.push(first);
      into.again.push(again);
      into.withoutPassword.push(first.totalMs - verifyMs);
      verifications.push(verifyMs);
    };
    // Warm-up, not counted: each client once.
    await withLeanFetch(() => pair(undefined));
    await pair(undefined);
    for (let index = 0; index < options.runs; index += 1) {
      // Alternating which client goes first, so neither always follows the other.
      const order = index % 2 === 0 ? [lean, nodeFetch] : [nodeFetch, lean];
      for (const runs of order) await (runs === lean ? withLeanFetch(() => pair(lean)) : pair(nodeFetch));
    }
    const result: DanceResult = {
      runs: options.runs,
      passwordHashCost: PASSWORD_HASH_COST,
      passwordVerifyMs: round(median(verifications), 1),
      ...summarizeClient(lean),
      withNodeFetch: summarizeClient(nodeFetch),
    };
    options.log(`  first-time dance ${result.firstTime.withoutPasswordMs} ms without the password check (${result.firstTime.medianMs} ms with it, ${result.passwordVerifyMs} ms); re-authorization ${result.reauthorization.medianMs} ms`);
    options.log(`  with Node's fetch as the client: ${result.withNodeFetch.firstTime.withoutPasswordMs} ms and ${result.withNodeFetch.reauthorization.medianMs} ms`);
    return result;
  } finally {
    await server.stop();
  }
}
