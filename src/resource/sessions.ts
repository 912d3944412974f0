import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Logger } from '../log.js';

/** A stateful MCP session: its server and transport, and who it belongs to. */
export interface McpSession {
  id: string;
  server: McpServer;
  transport: StreamableHTTPServerTransport;
  /** The account that opened it; requests with another account's token are refused. */
  subject: string;
  clientId: string;
  lastSeen: number;
  /** Requests (including open SSE streams) under way; a session with any is not idle. */
  inFlight: number;
}

/**
 * Live sessions, evicted after `idleTtlMs` without a request. Clients often just disconnect (the SDK
 * client's close() sends no DELETE), so without eviction every session would stay forever.
 */
export class SessionRegistry {
  readonly #sessions = new Map<string, McpSession>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(private readonly idleTtlMs: number, private readonly log: Logger) {
    this.#sweeper = setInterval(() => this.sweep(Date.now()), Math.min(Math.max(idleTtlMs / 2, 250), 60_000));
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  get(id: string): McpSession | undefined {
    return this.#sessions.get(id);
  }

  add(session: McpSession): void {
    this.#sessions.set(session.id, session);
  }

  /** Counts a request against the session until its response ends. */
  track(session: McpSession, response: { once(event: 'close', listener: () => void): unknown }): void {
    session.inFlight += 1;
    session.lastSeen = Date.now();
    response.once('close', () => {
      session.inFlight -= 1;
      session.lastSeen = Date.now();
    });
  }

  /** Forgets a session whose transport closed (DELETE, eviction, shutdown). */
  forget(id: string | undefined): void {
    if (id) this.#sessions.delete(id);
  }

  sweep(now: number): number {
    let evicted = 0;
    for (const session of this.#sessions.values()) {
      if (session.inFlight === 0 && now - session.lastSeen >= this.idleTtlMs) {
        this.#close(session, 'idle');
        evicted += 1;
      }
    }
    return evicted;
  }

  async closeAll(): Promise<void> {
    clearInterval(this.#sweeper);
    await Promise.all([...this.#sessions.values()].map((session) => this.#close(session, 'shutdown')));
  }

  #close(session: McpSession, reason: string): Promise<void> {
    this.#sessions.delete(session.id);
    this.log.info('mcp.session_closed', { session: session.id.slice(0, 8), account: session.subject, reason });
    return session.server.close().catch(() => undefined);
  }
}
