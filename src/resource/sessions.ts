import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { InitializeRequest, LoggingLevel } from '@modelcontextprotocol/sdk/types.js';
import { JsonRpcCode, JsonRpcHttpError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Caller } from './bearer.js';
import type { SessionEventStore } from './event-store.js';
import type { NodeStreamableHttpTransport } from './node-streamable-transport.js';

/** A session's server and the transport it is connected to. */
export interface Live<T> {
  server: McpServer;
  transport: T;
}

interface SessionBase {
  id: string;
  /** The account and client that opened it; requests from anyone else are refused. */
  owner: Caller;
  lastSeen: number;
  /** Requests (including open SSE streams) under way; a session with any is not idle. */
  inFlight: number;
}

/** A legacy HTTP+SSE session (/sse and /messages): it lives exactly as long as its stream, so it always has its server. */
export interface SseSession extends SessionBase {
  kind: 'sse';
  live: Live<SSEServerTransport>;
}

/** What a client set up in its session that a rebuilt server must be told again. */
export interface Negotiated {
  initialize: Pick<InitializeRequest['params'], 'protocolVersion' | 'capabilities' | 'clientInfo'>;
  /** The last `logging/setLevel` the client sent, if any. */
  logLevel?: LoggingLevel;
}

/**
 * A Streamable HTTP session (/mcp). Between requests it needs no server: once its transport has
 * been quiet for a moment the server and transport are dropped (shed), and the next request
 * rebuilds them from what is kept here. An idle session is then this record, a few hundred bytes,
 * rather than a whole McpServer (tens of KiB of RSS).
 */
export interface StreamableSession extends SessionBase {
  kind: 'streamable';
  /** Absent while shed. */
  live: Live<NodeStreamableHttpTransport> | undefined;
  /** Set once the client's initialize reached the server; a session is shed only after. */
  negotiated: Negotiated | undefined;
  /** Outgoing messages kept for resumption (Last-Event-ID); absent when there are none. */
  events: SessionEventStore | undefined;
  /** A rebuild under way: every request arriving meanwhile waits for this one. */
  rebuilding: Promise<Live<NodeStreamableHttpTransport>> | undefined;
}

interface SessionOfKind {
  streamable: StreamableSession;
  sse: SseSession;
}
export type SessionKind = keyof SessionOfKind;
/** A stateful MCP session: who it belongs to, and its server and transport (or what rebuilds them). */
export type McpSession<K extends SessionKind = SessionKind> = SessionOfKind[K];

export interface SessionLimits {
  idleTtlMs: number;
  /**
   * How long a Streamable HTTP session's transport must have been quiet before its server is
   * dropped (SHED_AFTER_MS unless given): long enough that a client making calls one after another
   * does not have it rebuilt for each.
   */
  shedAfterMs?: number;
  /** Open sessions one account may hold through one client; past it their least recently used idle one is closed. */
  perCaller: number;
  /** Open sessions in all; past it new ones are refused with 503. */
  total: number;
}

/**
 * The client closed its connection before its request was handled (while its token was being
 * checked, say): there is nobody to open a session for or to answer.
 */
export function clientLeft(req: IncomingMessage, res: ServerResponse): boolean {
  return res.closed || req.socket.destroyed;
}

/**
 * The grace before an idle session's server is dropped. A rebuild costs 0.1–0.2 ms of CPU (2,000
 * rebuilds in process after 2,000 to warm up: 110–220 µs each over seven runs), under half of what
 * one tool call costs the server: a client that pauses a second pays it once, one making calls back
 * to back never does.
 */
export const SHED_AFTER_MS = 1000;

const callerKey = (caller: Caller) => `${caller.subject}\u0000${caller.clientId}`;

/**
 * Live sessions, evicted after `idleTtlMs` without a request, and capped: clients often just
 * disconnect (the SDK client's close() sends no DELETE), and one token could otherwise open
 * sessions until memory runs out. Streamable HTTP and legacy SSE sessions share the caps: each
 * costs the same (an McpServer), and a caller should not double their allowance by switching
 * transport. A session is only ever found through the kind of transport that opened it.
 */
export class SessionRegistry {
  readonly #sessions = new Map<string, McpSession>();
  /** Each caller's sessions, so admitting one is not a walk over every session (there may be tens of thousands). */
  readonly #byCaller = new Map<string, Set<McpSession>>();
  readonly #sweeper: NodeJS.Timeout;
  /** Streamable HTTP sessions holding a server: the only ones the shedding pass looks at. */
  readonly #live = new Set<StreamableSession>();
  /** The shedding pass, every half grace while any session holds a server; none otherwise. */
  #shedder: NodeJS.Timeout | undefined;
  readonly #shedAfterMs: number;
  #closing = false;

  constructor(private readonly limits: SessionLimits, private readonly log: Logger) {
    this.#sweeper = setInterval(() => this.sweep(Date.now()), Math.min(Math.max(limits.idleTtlMs / 2, 250), 60_000));
    this.#sweeper.unref();
    this.#shedAfterMs = limits.shedAfterMs ?? SHED_AFTER_MS;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** How many Streamable HTTP sessions hold a server now (the others are shed). */
  get liveStreamable(): number {
    return this.#live.size;
  }

  static owns(session: McpSession, caller: Caller): boolean {
    return session.owner.subject === caller.subject && session.owner.clientId === caller.clientId;
  }

  /** The session with this id if it is of this kind. */
  get<K extends SessionKind>(id: string, kind: K): McpSession<K> | undefined {
    const session = this.#sessions.get(id);
    return session?.kind === kind ? (session as McpSession<K>) : undefined;
  }

  /**
   * The session `id` of this kind that `caller` opened, or 404. Another caller's session is never
   * handed over, only logged: a session id is not a credential.
   */
  sessionOf<K extends SessionKind>(id: string, kind: K, caller: Caller): McpSession<K> {
    const session = this.get(id, kind);
    if (session && SessionRegistry.owns(session, caller)) return session;
    if (session) this.log.warn('mcp.session_owner_mismatch', { session: id.slice(0, 8), account: caller.subject, client: caller.clientId, owner: session.owner.subject });
    throw new JsonRpcHttpError(404, JsonRpcCode.SessionNotFound, 'Session not found');
  }

  /** Makes room for one more session of `caller`, or refuses. Call before creating it. */
  admit(caller: Caller): void {
    // Shutting down: a session opened now would only hold the shutdown open until its grace runs out.
    if (this.#closing) throw new JsonRpcHttpError(503, JsonRpcCode.ServerError, 'Server shutting down: no new sessions; try again shortly');
    const theirs = this.#byCaller.get(callerKey(caller));
    if (theirs && theirs.size >= this.limits.perCaller) {
      const oldestIdle = [...theirs].filter((session) => session.inFlight === 0).sort((a, b) => a.lastSeen - b.lastSeen)[0];
      if (!oldestIdle) throw new JsonRpcHttpError(429, JsonRpcCode.ServerError, `Too many open sessions (${this.limits.perCaller}); close one first`);
      void this.#close(oldestIdle, 'replaced');
    }
    if (this.#sessions.size >= this.limits.total && this.sweep(Date.now()) === 0) {
      this.log.warn('mcp.sessions_full', { sessions: this.#sessions.size });
      throw new JsonRpcHttpError(503, JsonRpcCode.ServerError, 'Server busy: too many open sessions; try again later');
    }
  }

  add(session: McpSession): void {
    this.#sessions.set(session.id, session);
    const key = callerKey(session.owner);
    const theirs = this.#byCaller.get(key);
    if (theirs) theirs.add(session);
    else this.#byCaller.set(key, new Set([session]));
    if (session.kind === 'streamable' && session.live) this.#watch(session);
  }

  /** A shed session's rebuilt server and transport; dropped again once quiet. */
  revive(session: StreamableSession, live: Live<NodeStreamableHttpTransport>): void {
    session.live = live;
    this.#watch(session);
  }

  #watch(session: StreamableSession): void {
    this.#live.add(session);
    if (this.#shedder) return;
    this.#shedder = setInterval(() => this.shed(Date.now()), Math.max(this.#shedAfterMs / 2, 10));
    this.#shedder.unref();
  }

  /**
   * Drops the server and transport of every Streamable HTTP session that is idle (no request or
   * stream open) and whose transport has been quiet for the grace: no request waiting for its
   * answer, nothing sent or received. Dropped, not closed: there is nothing left to end, and
   * closing would cost more than the rest of the server's life (the SDK makes a "Connection
   * closed" error for requests it has none of). Returns how many were shed.
   */
  shed(now: number): number {
    let shed = 0;
    for (const session of this.#live) {
      const quietSince = session.live?.transport.quietSince;
      if (session.inFlight > 0 || session.negotiated === undefined || quietSince === undefined) continue;
      if (now - Math.max(quietSince, session.lastSeen) < this.#shedAfterMs) continue;
      session.live = undefined;
      if (session.events?.empty) session.events = undefined;
      this.#live.delete(session);
      shed += 1;
    }
    if (this.#live.size === 0) {
      clearInterval(this.#shedder);
      this.#shedder = undefined;
    }
    return shed;
  }

  #remove(session: McpSession): void {
    this.#sessions.delete(session.id);
    if (session.kind === 'streamable') this.#live.delete(session);
    const key = callerKey(session.owner);
    const theirs = this.#byCaller.get(key);
    theirs?.delete(session);
    if (theirs?.size === 0) this.#byCaller.delete(key);
  }

  /**
   * Counts a request against the session until its response closes. A response that has already
   * closed (the client left while the request waited) is not counted: its `close` will not come
   * again, and counted it would keep the session from ever being idle.
   */
  track(session: McpSession, response: { readonly closed: boolean; once(event: 'close', listener: () => void): unknown }): void {
    session.lastSeen = Date.now();
    if (response.closed) return;
    session.inFlight += 1;
    response.once('close', () => {
      session.inFlight -= 1;
      session.lastSeen = Date.now();
    });
  }

  /**
   * Forgets a session whose transport closed. Closed by the registry (eviction, shutdown) it is
   * already gone and was logged; otherwise the client ended it (a DELETE, a closed stream), and
   * `reason` says how.
   */
  forget(id: string | undefined, reason: string): void {
    const session = id === undefined ? undefined : this.#sessions.get(id);
    if (!session) return;
    this.#remove(session);
    this.log.info('mcp.session_closed', { session: session.id.slice(0, 8), account: session.owner.subject, reason });
  }

  sweep(now: number): number {
    let evicted = 0;
    for (const session of this.#sessions.values()) {
      if (session.inFlight === 0 && now - session.lastSeen >= this.limits.idleTtlMs) {
        void this.#close(session, 'idle');
        evicted += 1;
      } else if (session.kind === 'streamable' && !session.live && session.events?.empty) {
        // Its events have expired since it was shed: a rebuild makes a new store if it needs one.
        session.events = undefined;
      }
    }
    return evicted;
  }

  /** Shutdown: closes every session, and admits no new one from now on. */
  async closeAll(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    clearInterval(this.#shedder);
    this.#shedder = undefined;
    await Promise.all([...this.#sessions.values()].map((session) => this.#close(session, 'shutdown')));
  }

  #close(session: McpSession, reason: string): Promise<void> {
    this.#remove(session);
    this.log.info('mcp.session_closed', { session: session.id.slice(0, 8), account: session.owner.subject, reason });
    // A shed session has no server to close; a rebuild under way notices it is gone and closes its own.
    if (session.kind === 'streamable' && !session.live) {
      session.events?.clear();
      return Promise.resolve();
    }
    return session.live!.server.close().catch(() => undefined);
  }
}
