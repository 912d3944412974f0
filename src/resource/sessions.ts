import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { JsonRpcCode, JsonRpcHttpError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Caller } from './bearer.js';
import type { NodeStreamableHttpTransport } from './node-streamable-transport.js';

/** Each kind of session and its transport: Streamable HTTP (/mcp), or the legacy HTTP+SSE one (/sse and /messages). */
interface TransportOfKind {
  streamable: NodeStreamableHttpTransport;
  sse: SSEServerTransport;
}
export type SessionKind = keyof TransportOfKind;

/** A stateful MCP session: its server and transport, and who it belongs to. */
export interface McpSession<K extends SessionKind = SessionKind> {
  id: string;
  kind: K;
  server: McpServer;
  transport: TransportOfKind[K];
  /** The account and client that opened it; requests from anyone else are refused. */
  owner: Caller;
  lastSeen: number;
  /** Requests (including open SSE streams) under way; a session with any is not idle. */
  inFlight: number;
}

export interface SessionLimits {
  idleTtlMs: number;
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
  #closing = false;

  constructor(private readonly limits: SessionLimits, private readonly log: Logger) {
    this.#sweeper = setInterval(() => this.sweep(Date.now()), Math.min(Math.max(limits.idleTtlMs / 2, 250), 60_000));
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#sessions.size;
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
  }

  #remove(session: McpSession): void {
    this.#sessions.delete(session.id);
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
      }
    }
    return evicted;
  }

  /** Shutdown: closes every session, and admits no new one from now on. */
  async closeAll(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    await Promise.all([...this.#sessions.values()].map((session) => this.#close(session, 'shutdown')));
  }

  #close(session: McpSession, reason: string): Promise<void> {
    this.#remove(session);
    this.log.info('mcp.session_closed', { session: session.id.slice(0, 8), account: session.owner.subject, reason });
    return session.server.close().catch(() => undefined);
  }
}
