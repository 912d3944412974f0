import { setTimeout as sleep } from 'node:timers/promises';
import { SHED_AFTER_MS } from '../src/resource/sessions.js';
import { ADMIN } from '../test/support/server-process.js';
import { mcpRequest, openSession } from '../test/support/raw-oauth.js';
import { firstTimeDance } from './oauth-dance.js';
import { inPool } from './pool.js';
import { startBenchServer, type Memory } from './processes.js';
import { mib, round } from './stats.js';

/**
 * What an idle MCP session costs, and whether it is given back: `count` sessions opened
 * (initialize + initialized) by one account through one client and left idle, the server's heap
 * and RSS after a full GC before and after (KiB per session); then, once the idle TTL and a sweep
 * have passed, again (what was not given back). "Idle" is measured once the sessions have been
 * quiet for the shedding grace and one shedding pass (SHED_AFTER_MS × 1.5, and a margin): by then
 * each is the registry's small record, its server and transport dropped until its next request
 * (its last answers are still kept for resumption, 30 s). Each reading is taken a second after a
 * full GC (settledMemory). The caps are raised so that all of them are
 * admitted, and the TTL is short, but longer than opening them takes (estimated first on a
 * separate server, since it depends on the machine and its load): the first session opened is
 * checked to be still alive at the measurement, and gone after the TTL.
 */
export interface IdleSessionsOptions {
  count: number;
  /** The shortest idle TTL to use; longer when opening the sessions is estimated to take longer. */
  minIdleTtlSeconds: number;
  log: (line: string) => void;
}

export interface IdleSessionsResult {
  sessions: number;
  idleTtlSeconds: number;
  openingSeconds: number;
  heapKiBPerSession: number;
  rssKiBPerSession: number;
  /** After the TTL: the part of the sessions' heap still held (0 = all given back), and of their RSS. */
  heapRetainedAfterTtl: number;
  rssRetainedAfterTtl: number;
  /** Whether the first session was still open at the measurement, and closed after the TTL. */
  allOpenWhenMeasured: boolean;
  allClosedAfterTtl: boolean;
  memoryMiB: { before: MiB; open: MiB; afterTtl: MiB };
}

interface MiB {
  heapUsed: number;
  rss: number;
}

const inMiB = (memory: Memory): MiB => ({ heapUsed: mib(memory.heapUsed), rss: mib(memory.rss) });

/** The part of `growth` (over `before`) still held at `after`: 0 when all was given back. */
function retained(before: number, growth: number, after: number): number {
  return growth > 0 ? round(Math.max(0, after - before) / growth, 3) : 0;
}

/** After the last session opened: the shedding grace and one shedding pass (every half grace), and a margin. */
const SHED_WAIT_MS = SHED_AFTER_MS * 1.5 + 500;
const SETTLE_MS = 1_000;

/**
 * Memory after a full GC, read a second after it: V8 gives the pages it freed back to the system
 * a little later, on a thread of its own, so RSS read at once still counts them (10,000 idle
 * sessions: 8.8 KiB RSS each at once, 5.7 KiB a second later, with the heap unchanged).
 */
async function settledMemory(server: { memory(gc: boolean): Promise<Memory> }): Promise<Memory> {
  await server.memory(true);
  await sleep(SETTLE_MS);
  return server.memory(true);
}

/** A cheap request in the session: 200 while it is open, 404 once it was closed. */
async function sessionStatus(server: { url: string; mcpUrl: string }, token: string, sessionId: string): Promise<number> {
  return (await mcpRequest(server, token, { jsonrpc: '2.0', id: 1, method: 'ping' }, { sessionId })).status;
}

const OPEN_CONCURRENCY = 16;

function sessionServer(count: number, idleTtlSeconds: number) {
  return startBenchServer({
    env: {
      MCP_MAX_SESSIONS: String(count * 2),
      MCP_MAX_SESSIONS_PER_USER: String(Math.min(count * 2, 10_000)),
      MCP_SESSION_IDLE_TTL: `${idleTtlSeconds}s`,
    },
  });
}

/** Seconds that opening `count` sessions should take here and now, from a sample on a server of its own. */
async function estimateOpeningSeconds(count: number): Promise<number> {
  const sample = Math.min(count, 300);
  const server = await sessionServer(sample, 3600);
  try {
    const token = (await firstTimeDance(server, ADMIN)).tokens.access_token;
    await openSession(server, token);
    const started = Date.now();
    await inPool(sample, OPEN_CONCURRENCY, () => openSession(server, token));
    return ((Date.now() - started) / 1000) * (count / sample);
  } finally {
    await server.stop();
  }
}

export async function measureIdleSessions(options: IdleSessionsOptions): Promise<IdleSessionsResult> {
  const estimate = await estimateOpeningSeconds(options.count);
  // Opening (with a margin for a slower moment), then the wait for them to be shed and the reading.
  const idleTtlSeconds = Math.max(options.minIdleTtlSeconds, Math.ceil(estimate * 1.5 + (SHED_WAIT_MS + SETTLE_MS) / 1000 + 5));
  options.log(`  opening them should take about ${estimate.toFixed(0)} s: idle TTL ${idleTtlSeconds} s`);
  const server = await sessionServer(options.count, idleTtlSeconds);
  try {
    const token = (await firstTimeDance(server, ADMIN)).tokens.access_token;
    // One session first, so what all sessions share (code compiled on the first one) is in the baseline.
    await openSession(server, token);
    const before = await settledMemory(server);

    const started = Date.now();
    const ids = await inPool(options.count, OPEN_CONCURRENCY, () => openSession(server, token));
    const openingSeconds = (Date.now() - started) / 1000;
    // Sessions used within the grace still hold their servers: idle ones do not.
    await sleep(SHED_WAIT_MS);
    const open = await settledMemory(server);
    const measuredAfterSeconds = (Date.now() - started) / 1000;
    // The oldest session decides: if it is still open, none has been evicted yet.
    const allOpenWhenMeasured = measuredAfterSeconds < idleTtlSeconds && (await sessionStatus(server, token, ids[0]!)) === 200;
    options.log(`  ${options.count} sessions opened in ${openingSeconds.toFixed(1)} s; heap ${inMiB(before).heapUsed} → ${inMiB(open).heapUsed} MiB, RSS ${inMiB(before).rss} → ${inMiB(open).rss} MiB`);

    // The TTL from the last request (the check above), then a sweep (every TTL/2) and a margin.
    await sleep(idleTtlSeconds * 1500 + 2_000);
    const afterTtl = await settledMemory(server);
    const allClosedAfterTtl = (await sessionStatus(server, token, ids[0]!)) === 404 && (await sessionStatus(server, token, ids.at(-1)!)) === 404;
    options.log(`  after the ${idleTtlSeconds} s TTL: heap ${inMiB(afterTtl).heapUsed} MiB, RSS ${inMiB(afterTtl).rss} MiB`);

    const heapGrowth = open.heapUsed - before.heapUsed;
    const rssGrowth = open.rss - before.rss;
    return {
      sessions: options.count,
      idleTtlSeconds,
      openingSeconds: round(openingSeconds, 1),
      heapKiBPerSession: round(heapGrowth / options.count / 1024, 1),
      rssKiBPerSession: round(rssGrowth / options.count / 1024, 1),
      heapRetainedAfterTtl: retained(before.heapUsed, heapGrowth, afterTtl.heapUsed),
      rssRetainedAfterTtl: retained(before.rss, rssGrowth, afterTtl.rss),
      allOpenWhenMeasured,
      allClosedAfterTtl,
      memoryMiB: { before: inMiB(before), open: inMiB(open), afterTtl: inMiB(afterTtl) },
    };
  } finally {
    await server.stop();
  }
}
