import { performance } from 'node:perf_hooks';
import { hashPassword, verifyPassword } from '../src/authorization/passwords.js';
import { loadConfig } from '../src/config.js';
import { ADMIN } from '../test/support/server-process.js';
import { firstTimeDance, reauthorization, type DanceRun, type DanceStep } from './oauth-dance.js';
import { startBenchServer } from './processes.js';
import { median, round } from './stats.js';

/**
 * The whole first-time OAuth dance and a re-authorization with a remembered consent, `runs` times
 * each (alternating), on an otherwise idle server: median milliseconds, in all and per step.
 *
 * Sign-in verifies the password with scrypt at the server's default cost (PASSWORD_HASH_COST=15),
 * slow on purpose. The benchmark times that verification alone (the same function, the same cost,
 * on the load-generator core) and reports the dance with and without it, so the protocol's own cost
 * is visible; the cost is never lowered for the benchmark.
 */
export interface DanceOptions {
  runs: number;
  log: (line: string) => void;
}

export interface DanceSummary {
  medianMs: number;
  stepsMedianMs: Partial<Record<DanceStep, number>>;
}

export interface DanceResult {
  runs: number;
  passwordHashCost: number;
  /** One scrypt verification at that cost, median ms. */
  passwordVerifyMs: number;
  firstTime: DanceSummary & { withoutPasswordMs: number };
  reauthorization: DanceSummary;
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

async function passwordVerifyMs(runs: number): Promise<number> {
  const hash = await hashPassword(ADMIN.password, PASSWORD_HASH_COST);
  const times: number[] = [];
  for (let index = 0; index < runs; index += 1) {
    const start = performance.now();
    if (!(await verifyPassword(ADMIN.password, hash))) throw new Error('the password did not verify');
    times.push(performance.now() - start);
  }
  return median(times);
}

export async function measureDance(options: DanceOptions): Promise<DanceResult> {
  const server = await startBenchServer();
  try {
    // Warm-up, not counted.
    await reauthorization(server, ADMIN, await firstTimeDance(server, ADMIN));
    const first: DanceRun[] = [];
    const again: DanceRun[] = [];
    for (let index = 0; index < options.runs; index += 1) {
      const run = await firstTimeDance(server, ADMIN);
      first.push(run);
      again.push(await reauthorization(server, ADMIN, run));
    }
    const verifyMs = await passwordVerifyMs(Math.max(5, Math.ceil(options.runs / 2)));
    const firstTime = summarize(first);
    const result: DanceResult = {
      runs: options.runs,
      passwordHashCost: PASSWORD_HASH_COST,
      passwordVerifyMs: round(verifyMs, 1),
      firstTime: { ...firstTime, withoutPasswordMs: round(firstTime.medianMs - verifyMs, 1) },
      reauthorization: summarize(again),
    };
    options.log(`  first-time dance ${result.firstTime.medianMs} ms (password check ${result.passwordVerifyMs} ms of it); re-authorization ${result.reauthorization.medianMs} ms`);
    return result;
  } finally {
    await server.stop();
  }
}
