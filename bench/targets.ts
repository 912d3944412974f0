import { SHED_AFTER_MS } from '../src/resource/sessions.js';
import type { DanceResult } from './dance.js';
import type { IdleSessionsResult } from './idle-sessions.js';
import type { SoakReport } from './soak.js';
import type { StartupResult } from './startup.js';
import type { ThroughputResult } from './throughput.js';

/** Everything one `npm run bench` measured (bench/results/latest.json). */
export interface BenchResults {
  machine: {
    cpu: string;
    cores: number;
    node: string;
    date: string;
    quick: boolean;
    /** The 1-minute load average when the run started: anything else running makes every figure noisier (ratios less so). */
    loadAverageAtStart?: number;
  };
  throughput: ThroughputResult;
  dance: DanceResult;
  idleSessions: IdleSessionsResult;
  startup: StartupResult;
  soak: SoakReport;
}

/** One line of the table: what was measured, its value, the target and whether it was met. */
export interface Verdict {
  measure: string;
  value: string;
  target: string;
  met: boolean;
}

/** How much the heap after GC may grow over the soak and still count as flat. */
export const SOAK_FLAT_HEAP_MIB = 8;

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
/** A target is met only by a measured value: a missing one (NaN, no round could be compared) is not met. */
const atLeast = (value: number, bound: number) => Number.isFinite(value) && value >= bound;
const atMost = (value: number, bound: number) => Number.isFinite(value) && value <= bound;

/** The targets, each next to the measured value. */
export function verdicts(results: BenchResults): Verdict[] {
  const { throughput, dance, idleSessions: idle, startup, soak } = results;
  const sessions = throughput.targets.sessions;
  const wrong = Object.values(throughput.targets).reduce((sum, target) => sum + target.bad, 0);
  const checked = Object.values(throughput.targets).reduce((sum, target) => sum + target.ok + target.bad, 0);
  return [
    { measure: 'every load response checked (status, JSON-RPC id, one UUID)', value: `${wrong} wrong of ${checked}`, target: '0 wrong', met: wrong === 0 },
    { measure: 'authenticated `tools/call` (sessions), req/s ÷ raw echo', value: `${fixed(sessions.ratioToEcho, 3)}×`, target: '≥ 0.12×', met: atLeast(sessions.ratioToEcho, 0.12) },
    { measure: 'authenticated `tools/call` (sessions), server CPU per request', value: `${fixed(sessions.serverCpuMicrosPerRequest, 0)} µs`, target: '≤ 450 µs', met: atMost(sessions.serverCpuMicrosPerRequest, 450) },
    {
      measure: 'authenticated ÷ auth off (same app, bearer check replaced by a fixed caller): req/s, CPU per request',
      value: `${fixed(throughput.authOnVsOff.requestsPerSecondRatio, 3)}×, ${fixed(throughput.authOnVsOff.cpuRatio, 3)}×`,
      target: 'within 10% (req/s ≥ 0.9×, CPU ≤ 1.1×)',
      met: atLeast(throughput.authOnVsOff.requestsPerSecondRatio, 0.9) && atMost(throughput.authOnVsOff.cpuRatio, 1.1),
    },
    { measure: 'stateless ÷ sessions, req/s', value: `${fixed(throughput.statelessVsSessions, 3)}×`, target: '≥ 0.9×', met: atLeast(throughput.statelessVsSessions, 0.9) },
    {
      measure: `idle session (${idle.sessions.toLocaleString('en')} sessions, quiet past the ${SHED_AFTER_MS / 1000} s grace that sheds their servers): RSS, heap per session`,
      value: `${fixed(idle.rssKiBPerSession, 1)} KiB, ${fixed(idle.heapKiBPerSession, 1)} KiB${idle.allOpenWhenMeasured ? '' : ' (INVALID: some were closed before the measurement)'}`,
      target: '≤ 10 KiB',
      met: idle.allOpenWhenMeasured && atMost(idle.rssKiBPerSession, 10) && atMost(idle.heapKiBPerSession, 10),
    },
    {
      measure: `memory given back after the idle TTL (${idle.idleTtlSeconds} s): heap still held`,
      value: `${fixed(idle.heapRetainedAfterTtl * 100, 0)}% of the sessions' heap${idle.allClosedAfterTtl ? '' : ' (sessions NOT closed)'}; RSS ${fixed(idle.rssRetainedAfterTtl * 100, 0)}%`,
      target: 'sessions closed, ≤ 10% of their heap held',
      met: idle.allClosedAfterTtl && atMost(idle.heapRetainedAfterTtl, 0.1),
    },
    {
      measure: `first-time OAuth dance, median of ${dance.runs} (without / with the password check, scrypt cost ${dance.passwordHashCost}: ${fixed(dance.passwordVerifyMs, 1)} ms in the server); Node's fetch as the client: ${fixed(dance.withNodeFetch.firstTime.withoutPasswordMs, 1)} ms without; bare oidc-provider (the floor): ${fixed(dance.floor.firstTimeMs, 1)} ms, ours ${fixed(dance.floor.firstTimeRatio, 2)}× it`,
      value: `${fixed(dance.firstTime.withoutPasswordMs, 1)} ms / ${fixed(dance.firstTime.medianMs, 1)} ms`,
      target: '≤ 25 ms (without the password check)',
      met: atMost(dance.firstTime.withoutPasswordMs, 25),
    },
    {
      measure: `re-authorization, consent remembered (one click), median; Node's fetch as the client: ${fixed(dance.withNodeFetch.reauthorization.medianMs, 1)} ms; bare oidc-provider (the floor): ${fixed(dance.floor.reauthorizationMs, 1)} ms, ours ${fixed(dance.floor.reauthorizationRatio, 2)}× it`,
      value: `${fixed(dance.reauthorization.medianMs, 1)} ms`,
      target: '≤ 15 ms',
      met: atMost(dance.reauthorization.medianMs, 15),
    },
    { measure: 'start-up to the first served request (fresh data directory / restart)', value: `${startup.freshMs} ms / ${startup.restartMs} ms`, target: '≤ 1 s', met: atMost(Math.max(startup.freshMs, startup.restartMs), 1000) },
    { measure: `soak, ${fixed(soak.durationMs / 1000, 0)} s of mixed load: unexpected answers`, value: String(soak.unexpected), target: '0', met: soak.unexpected === 0 },
    { measure: 'soak: heap after GC, start → end', value: `${fixed(soak.heapMiB.afterWarmup, 1)} → ${fixed(soak.heapMiB.atEnd, 1)} MiB`, target: `flat (≤ +${SOAK_FLAT_HEAP_MIB} MiB)`, met: atMost(soak.heapMiB.growth, SOAK_FLAT_HEAP_MIB) },
  ];
}
