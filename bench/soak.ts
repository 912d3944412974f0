import { setTimeout as sleep } from 'node:timers/promises';
import type { Person } from '../test/support/person-at-browser.js';
import { mcpRequest, openSession, registerRaw, toolsCallMessage, type RawResponse, type ServerLike, type Tokens } from '../test/support/raw-oauth.js';
import { firstTimeDance, reauthorization, type Authorized } from './oauth-dance.js';
import type { Memory } from './processes.js';
import { mib } from './stats.js';

/**
 * Mixed load for a while, every answer checked against what it must be: tool calls in open
 * sessions, token refreshes, new client registrations, revocations (the revoked token must then
 * be refused with 401, its grant's refresh token with invalid_grant, and the client authorizes again), and sessions opened and abandoned
 * (never used again, never deleted: the idle TTL and the per-caller cap must clean them up).
 * The server's heap is sampled throughout and measured after a full GC at the start (after a
 * warm-up) and at the end. Shared by `npm run bench` (60 s) and test/operations/soak.test.ts.
 */
export type SoakOperation = 'call' | 'refresh' | 'register' | 'revoke' | 'abandon';

/** How often each operation is picked. */
const WEIGHTS: Record<SoakOperation, number> = { call: 60, refresh: 10, register: 8, revoke: 7, abandon: 15 };

export interface SoakServer extends ServerLike {
  memory(gc: boolean): Promise<Memory>;
}

export interface SoakOptions {
  server: SoakServer;
  person: Person;
  durationMs: number;
  /** The server's MCP_SESSION_IDLE_TTL: a worker's session unused this long may be gone (404), and the worker opens another. */
  idleTtlMs: number;
  /** Concurrent clients, each with its own registration, tokens and session. */
  workers: number;
  warmupMs?: number;
  sampleEveryMs?: number;
}

export interface SoakReport {
  durationMs: number;
  workers: number;
  counts: Record<SoakOperation, number>;
  /** Workers' sessions closed by the idle TTL after going unused that long, and opened again. */
  sessionsReopened: number;
  unexpected: number;
  /** The first few unexpected answers, for the reader. */
  unexpectedExamples: string[];
  heapMiB: { afterWarmup: number; atEnd: number; growth: number; maxSampled: number; samples: number[] };
}

interface Worker extends Authorized {
  sessionId: string;
  /** When its session last answered. */
  sessionUsed: number;
}


function pick(): SoakOperation {
  const total = Object.values(WEIGHTS).reduce((sum, weight) => sum + weight, 0);
  let draw = Math.random() * total;
  for (const [operation, weight] of Object.entries(WEIGHTS) as [SoakOperation, number][]) {
    draw -= weight;
    if (draw < 0) return operation;
  }
  return 'call';
}

/** Throws, as an unexpected answer, what was expected and what came, unless `condition`. */
function expect(condition: boolean, what: string, answer: RawResponse): void {
  if (!condition) throw new Error(`${what}: got ${answer.status} ${answer.text.slice(0, 200)}`);
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const { server } = options;
  const counts: Record<SoakOperation, number> = { call: 0, refresh: 0, register: 0, revoke: 0, abandon: 0 };
  let nextId = 1;
  let sessionsReopened = 0;
  const examples: string[] = [];
  let unexpected = 0;

  const workers: Worker[] = [];
  for (let index = 0; index < options.workers; index += 1) {
    const authorized = await firstTimeDance(server, options.person);
    workers.push({ ...authorized, sessionId: await openSession(server, authorized.tokens.access_token), sessionUsed: Date.now() });
  }
  // Abandoned sessions belong to a client of their own, so that the per-caller cap closes them and not the workers' sessions.
  const abandoner = (await firstTimeDance(server, options.person)).tokens.access_token;

  const call = (worker: Worker, token: string) => mcpRequest(server, token, toolsCallMessage(nextId++, 'generate_uuid'), { sessionId: worker.sessionId });
  const refresh = async (worker: Worker): Promise<Tokens> => {
    const answer = await worker.client.refresh(worker.tokens.refresh_token);
    expect(answer.status === 200 && typeof answer.json?.access_token === 'string' && typeof answer.json.refresh_token === 'string', 'refresh: 200 with new tokens', answer);
    return answer.json as unknown as Tokens;
  };

  const operations: Record<SoakOperation, (worker: Worker) => Promise<void>> = {
    async call(worker) {
      let answer = await call(worker, worker.tokens.access_token);
      // The server saw the session last a little before its answer arrived here: 100 ms of slack.
      if (answer.status === 404 && Date.now() - worker.sessionUsed >= options.idleTtlMs - 100) {
        // Unused for the idle TTL: closed, as it should be. A client starts a new session (MCP transport spec).
        worker.sessionId = await openSession(server, worker.tokens.access_token);
        sessionsReopened += 1;
        answer = await call(worker, worker.tokens.access_token);
      }
      const uuids = (answer.message?.result as { structuredContent?: { uuids?: unknown[] } } | undefined)?.structuredContent?.uuids;
      expect(answer.status === 200 && uuids?.length === 1, 'tools/call: 200 with one UUID', answer);
      worker.sessionUsed = Date.now();
    },
    async refresh(worker) {
      worker.tokens = await refresh(worker);
    },
    async register() {
      const answer = await registerRaw(server, { client_name: 'soak client', redirect_uris: ['http://127.0.0.1:9/callback'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] });
      expect(answer.status === 201 && typeof answer.json?.client_id === 'string', 'registration: 201 with a client_id', answer);
    },
    async revoke(worker) {
      const revoked = worker.tokens.access_token;
      const answer = await worker.client.revoke(revoked, 'access_token');
      expect(answer.status === 200, 'revocation: 200', answer);
      const refused = await call(worker, revoked);
      expect(refused.status === 401 && /error="invalid_token"/.test(refused.headers.get('www-authenticate') ?? ''), 'tools/call with a revoked token: 401 invalid_token', refused);
      // Revoking a token revokes its grant here: the refresh token is refused too, and the client
      // authorizes again (still signed in, consent remembered: no password).
      const stale = await worker.client.refresh(worker.tokens.refresh_token);
      expect(stale.status === 400 && stale.json?.error === 'invalid_grant', 'refresh after revocation: 400 invalid_grant', stale);
      worker.tokens = (await reauthorization(server, options.person, worker)).tokens;
    },
    async abandon() {
      await openSession(server, abandoner);
    },
  };

  let running = true;
  const loop = async (worker: Worker) => {
    while (running) {
      const operation = pick();
      try {
        await operations[operation](worker);
        counts[operation] += 1;
      } catch (error) {
        unexpected += 1;
        if (examples.length < 5) examples.push(`${operation}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  };

  const samples: number[] = [];
  const loops = workers.map(loop);
  const warmupMs = options.warmupMs ?? Math.min(5_000, options.durationMs / 5);
  await sleep(warmupMs);
  const afterWarmup = await server.memory(true);
  const sampler = setInterval(() => {
    server.memory(false).then((memory) => samples.push(mib(memory.heapUsed)), () => undefined);
  }, options.sampleEveryMs ?? 1_000);
  await sleep(options.durationMs - warmupMs);
  clearInterval(sampler);
  running = false;
  await Promise.all(loops);
  const atEnd = await server.memory(true);

  return {
    durationMs: options.durationMs,
    workers: options.workers,
    counts,
    sessionsReopened,
    unexpected,
    unexpectedExamples: examples,
    heapMiB: {
      afterWarmup: mib(afterWarmup.heapUsed),
      atEnd: mib(atEnd.heapUsed),
      growth: mib(atEnd.heapUsed - afterWarmup.heapUsed),
      maxSampled: samples.length > 0 ? Math.max(...samples) : Number.NaN,
      samples,
    },
  };
}

/** One line of counts, as the bench and `npm test` print it. */
export function soakLine(report: SoakReport): string {
  const counts = Object.entries(report.counts).map(([operation, count]) => `${count} ${operation}`).join(', ');
  return `${(report.durationMs / 1000).toFixed(0)} s, ${report.workers} clients: ${counts}, ${report.sessionsReopened} sessions reopened after the idle TTL; ${report.unexpected} unexpected; heap after GC ${report.heapMiB.afterWarmup} → ${report.heapMiB.atEnd} MiB (max sampled ${report.heapMiB.maxSampled} MiB)`;
}
