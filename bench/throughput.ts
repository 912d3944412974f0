import { ADMIN } from '../test/support/server-process.js';
import { openSession, PROTOCOL_VERSION } from '../test/support/raw-oauth.js';
import { loadRound, type LoadRound, type LoadTarget } from './load.js';
import { firstTimeDance } from './oauth-dance.js';
import { startBenchServer, startRawEcho, type BenchProcess } from './processes.js';
import { median, round } from './stats.js';

/**
 * `tools/call generate_uuid` on four targets, side by side in the same run, each pinned to the
 * server core, in rounds whose order alternates forwards and backwards (ABBA):
 * echo → sessions → authOff → stateless, then stateless → authOff → sessions → echo. The machine's
 * speed drifts with whatever else runs on it; the pairs compared within a round (sessions with
 * auth off, with stateless, with the echo) are then always measured next to each other, each side
 * first in half the rounds, so drift falls on both sides alike instead of on one.
 *
 *   echo       a raw node:http JSON echo, the ceiling;
 *   sessions   the server with a real token (from the real OAuth flow), one session shared by all connections;
 *   stateless  the same with STATELESS=true (no session), its own real token;
 *   authOff    the sessions server with the bearer check replaced by a fixed caller.
 * Every figure is the median over rounds of a per-round value; ratios are taken within a round.
 */
export const TARGETS = ['echo', 'sessions', 'stateless', 'authOff'] as const;
export type TargetName = (typeof TARGETS)[number];
/** The forward order of a round; every other round runs it backwards. */
const ORDER: readonly TargetName[] = ['echo', 'sessions', 'authOff', 'stateless'];

export interface ThroughputOptions {
  rounds: number;
  seconds: number;
  connections: number;
  log: (line: string) => void;
}

export interface TargetSummary {
  requestsPerSecond: number;
  ratioToEcho: number;
  serverCpuMicrosPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses checked, and those that were wrong (all rounds). */
  ok: number;
  bad: number;
  firstBad?: string;
}

export interface ThroughputResult {
  targets: Record<TargetName, TargetSummary>;
  /** Per round, sessions with auth ÷ auth off: requests per second, and server CPU per request. */
  authOnVsOff: { requestsPerSecondRatio: number; cpuRatio: number };
  /** Per round, stateless ÷ sessions requests per second. */
  statelessVsSessions: number;
  rounds: LoadRound[][];
}

/** a ÷ b, or NaN when a round had nothing to compare (no response at all: a stalled machine); medians skip NaN. */
function ratio(a: number, b: number): number {
  return a > 0 && b > 0 ? a / b : Number.NaN;
}

function headers(token: string, sessionId: string | undefined): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': PROTOCOL_VERSION,
    authorization: `Bearer ${token}`,
    ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
  };
}

export async function measureThroughput(options: ThroughputOptions): Promise<ThroughputResult> {
  const started: BenchProcess[] = [];
  try {
    const echo = await startRawEcho();
    started.push(echo);
    const sessions = await startBenchServer();
    started.push(sessions);
    const stateless = await startBenchServer({ env: { STATELESS: 'true' } });
    started.push(stateless);
    const authOff = await startBenchServer({ authOff: true });
    started.push(authOff);
    // The other servers have run oidc-provider (the dance), which turns on its AsyncLocalStorage and
    // with it a promise hook for the whole process (≈ 8% of a call here). A server in use has always
    // served OAuth requests, so the auth-off one does too before it is measured: the comparison is
    // then the bearer check alone.
    const discovery = await fetch(`${authOff.url}/.well-known/oauth-authorization-server`);
    if (discovery.status !== 200) throw new Error(`auth-off server: discovery answered ${discovery.status}`);

    const sessionsToken = (await firstTimeDance(sessions, ADMIN)).tokens.access_token;
    const statelessToken = (await firstTimeDance(stateless, ADMIN)).tokens.access_token;
    // Auth off ignores the token; it is sent anyway (a token of the same length) so every request is the same size.
    const targets: Record<TargetName, LoadTarget> = {
      echo: { name: 'echo', pid: echo.pid, url: `http://127.0.0.1:${echo.port}/mcp`, headers: headers(sessionsToken, '00000000-0000-4000-8000-000000000000') },
      sessions: { name: 'sessions', pid: sessions.pid, url: sessions.mcpUrl, headers: headers(sessionsToken, await openSession(sessions, sessionsToken)) },
      stateless: { name: 'stateless', pid: stateless.pid, url: stateless.mcpUrl, headers: headers(statelessToken, undefined) },
      authOff: { name: 'authOff', pid: authOff.pid, url: authOff.mcpUrl, headers: headers(sessionsToken, await openSession(authOff, sessionsToken)) },
    };

    // Warm-up (JIT, caches, connection pools), not counted.
    for (const name of TARGETS) await loadRound(targets[name], Math.min(2, options.seconds), options.connections);

    const rounds: LoadRound[][] = [];
    for (let index = 0; index < options.rounds; index += 1) {
      const order = index % 2 === 0 ? ORDER : [...ORDER].reverse();
      const byName = {} as Record<TargetName, LoadRound>;
      for (const name of order) {
        byName[name] = await loadRound(targets[name], options.seconds, options.connections);
        const r = byName[name];
        options.log(`  round ${index + 1}/${options.rounds} ${name.padEnd(9)} ${r.requestsPerSecond.toFixed(0).padStart(6)} req/s  ${r.serverCpuMicrosPerRequest.toFixed(0).padStart(5)} µs CPU/req  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms${r.bad ? `  ${r.bad} WRONG (${r.firstBad})` : ''}`);
      }
      rounds.push(TARGETS.map((name) => byName[name]));
    }

    const of = (name: TargetName) => rounds.map((roundResults) => roundResults[TARGETS.indexOf(name)]!);
    const summary = {} as Record<TargetName, TargetSummary>;
    for (const name of TARGETS) {
      const results = of(name);
      const firstBad = results.find((r) => r.firstBad)?.firstBad;
      summary[name] = {
        requestsPerSecond: round(median(results.map((r) => r.requestsPerSecond)), 0),
        ratioToEcho: round(median(results.map((r, i) => ratio(r.requestsPerSecond, of('echo')[i]!.requestsPerSecond))), 3),
        serverCpuMicrosPerRequest: round(median(results.map((r) => r.serverCpuMicrosPerRequest)), 0),
        p50Ms: median(results.map((r) => r.p50Ms)),
        p99Ms: median(results.map((r) => r.p99Ms)),
        ok: results.reduce((sum, r) => sum + r.ok, 0),
        bad: results.reduce((sum, r) => sum + r.bad, 0),
        ...(firstBad ? { firstBad } : {}),
      };
    }
    const perRound = (a: TargetName, b: TargetName, value: (r: LoadRound) => number) => round(median(of(a).map((r, i) => ratio(value(r), value(of(b)[i]!)))), 3);
    return {
      targets: summary,
      authOnVsOff: {
        requestsPerSecondRatio: perRound('sessions', 'authOff', (r) => r.requestsPerSecond),
        cpuRatio: perRound('sessions', 'authOff', (r) => r.serverCpuMicrosPerRequest),
      },
      statelessVsSessions: perRound('stateless', 'sessions', (r) => r.requestsPerSecond),
      rounds,
    };
  } finally {
    await Promise.all(started.map((child) => child.stop()));
  }
}
