import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { JsonRpcCode, JsonRpcHttpError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Caller } from './bearer.js';
import { RESUME_RETRY_MS, SessionEventStore } from './event-store.js';
import { isInitialize, isRequest } from './jsonrpc-messages.js';
import { NodeStreamableHttpTransport } from './node-streamable-transport.js';
import type { Live, Negotiated, SessionRegistry, StreamableSession } from './sessions.js';

type LiveStreamable = Live<NodeStreamableHttpTransport>;

/** What the client set up that the server keeps, from one message it sent, or undefined. */
function negotiatedBy(message: JSONRPCMessage, previous: Negotiated | undefined): Negotiated | undefined {
  if (isInitialize(message)) {
    const { protocolVersion, capabilities, clientInfo } = message.params;
    return { initialize: { protocolVersion, capabilities, clientInfo } };
  }
  if (previous && isRequest(message) && message.method === 'logging/setLevel' && typeof message.params?.level === 'string') {
    return { ...previous, logLevel: message.params.level as Negotiated['logLevel'] };
  }
  return undefined;
}

/** The messages that bring a new server to where the client left its session's earlier one. */
function replayOf(negotiated: Negotiated): JSONRPCMessage[] {
  const messages: JSONRPCMessage[] = [
    { jsonrpc: '2.0', id: 0, method: 'initialize', params: negotiated.initialize },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
  ];
  if (negotiated.logLevel) messages.push({ jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: negotiated.logLevel } });
  return messages;
}

/**
 * Streamable HTTP sessions' servers and transports: made for a new session, and rebuilt for one
 * whose server the registry shed while it was idle. A rebuilt server is told again what the client
 * negotiated (its initialize, its logging level) through the transport, the answers dropped, so
 * getClientCapabilities(), getClientVersion() and log filtering are what they were; the session
 * keeps its id and its event store, so a stream broken before the shed resumes as before.
 */
export class StreamableSessions {
  constructor(
    readonly registry: SessionRegistry,
    private readonly createServer: () => McpServer,
    private readonly log: Logger,
  ) {}

  /**
   * A new session's server and transport, for its initialize request (`initializeResponse`, only
   * borrowed until the session is registered). The transport keeps its callbacks for as long as it
   * lives, and what they capture with it: neither the request nor the response.
   */
  async open(caller: Caller, initializeResponse: ServerResponse): Promise<LiveStreamable> {
    const opening: { response?: ServerResponse } = { response: initializeResponse };
    const events = new SessionEventStore();
    const holder: { session?: StreamableSession } = {};
    const live = await this.#connect(holder, events, {
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        const session: StreamableSession = {
          id, kind: 'streamable', live, owner: caller, lastSeen: Date.now(), inFlight: 0, negotiated: undefined, events, rebuilding: undefined,
        };
        holder.session = session;
        this.registry.add(session);
        if (opening.response) this.registry.track(session, opening.response);
        opening.response = undefined;
        this.log.info('mcp.session_opened', { session: id.slice(0, 8), account: caller.subject, client: caller.clientId });
      },
    });
    return live;
  }

  /** The session's server and transport, connected; rebuilt if it was shed (one rebuild however many requests ask). */
  liveOf(session: StreamableSession): LiveStreamable | Promise<LiveStreamable> {
    if (session.live) return session.live;
    session.rebuilding ??= this.#rebuild(session).finally(() => {
      session.rebuilding = undefined;
    });
    return session.rebuilding;
  }

  async #rebuild(session: StreamableSession): Promise<LiveStreamable> {
    const negotiated = session.negotiated;
    // The registry sheds only sessions whose initialize reached their server.
    if (!negotiated) throw new Error(`session ${session.id.slice(0, 8)} was shed before it was initialized`);
    session.events ??= new SessionEventStore();
    const live = await this.#connect({ session }, session.events, { sessionIdGenerator: undefined, initializedSessionId: session.id });
    await live.transport.replay(replayOf(negotiated));
    if (this.registry.get(session.id, 'streamable') !== session) {
      // Closed (DELETE, eviction, shutdown) while this was being built.
      await live.server.close().catch(() => undefined);
      throw new JsonRpcHttpError(404, JsonRpcCode.SessionNotFound, 'Session not found');
    }
    this.registry.revive(session, live);
    return live;
  }

  /** A server connected to its transport, whose incoming messages note what the client negotiated on the session in `holder`. */
  async #connect(holder: { session?: StreamableSession }, events: SessionEventStore, options: Pick<ConstructorParameters<typeof NodeStreamableHttpTransport>[0], 'sessionIdGenerator' | 'initializedSessionId' | 'onsessioninitialized'>): Promise<LiveStreamable> {
    const server = this.createServer();
    // Resumable streams (SEP-1699): a client at protocol 2025-11-25 or later gets a priming event
    // id and a retry interval on each SSE stream, and after a broken stream resumes with
    // Last-Event-ID from this small per-session store.
    const transport = new NodeStreamableHttpTransport({ ...options, eventStore: events, retryInterval: RESUME_RETRY_MS });
    transport.onclose = () => {
      events.clear();
      // The one way a client ends a Streamable HTTP session itself.
      this.registry.forget(transport.sessionId, 'deleted');
    };
    await server.connect(transport);
    // Protocol.connect set the transport's onmessage; each message is looked at on its way there.
    const deliver = transport.onmessage!;
    transport.onmessage = (message, extra) => {
      const session = holder.session;
      if (session) session.negotiated = negotiatedBy(message, session.negotiated) ?? session.negotiated;
      deliver(message, extra);
    };
    return { server, transport };
  }
}
