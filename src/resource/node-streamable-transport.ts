import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { EventId, EventStore, StreamId } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { DEFAULT_NEGOTIATED_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage, type MessageExtraInfo, type RequestId, type RequestInfo } from '@modelcontextprotocol/sdk/types.js';
import { JsonRpcCode, JsonRpcHttpError, type JsonRpcErrorCode } from '../errors.js';
import { isInitialize, isRequest, isResponse, parseMessage } from './jsonrpc-messages.js';
import { SSE_HEADERS, SseResponse } from './sse-response.js';

export interface NodeStreamableHttpTransportOptions {
  /** Makes the id of a new session; undefined for stateless mode (one transport per request, no session). */
  sessionIdGenerator: (() => string) | undefined;
  /**
   * An existing session's id: the transport starts out initialized as that session (its server was
   * dropped while the session was idle and is being rebuilt), so it accepts that session's requests
   * at once and refuses another initialize.
   */
  initializedSessionId?: string;
  /** Answer requests with one JSON body instead of an SSE stream. */
  enableJsonResponse?: boolean;
  /** Keeps outgoing messages so a client can resume a broken stream with Last-Event-ID. */
  eventStore?: EventStore;
  /** The `retry` (ms) sent in a resumable stream's priming event. */
  retryInterval?: number;
  /** Called with the new session's id while the initialize request is handled. */
  onsessioninitialized?: (sessionId: string) => void | Promise<void>;
}

/** As many messages as the SDK accepts in one batch. */
const MAX_BATCH_SIZE = 100;
const STANDALONE_STREAM: StreamId = '_GET_stream';
/** Protocol versions from which a client understands an SSE event with no data (the priming event) and can resume. */
const RESUMABLE_FROM = '2025-11-25';

/** Where the answers to the requests of one POST (or the server's own messages, on GET) go. */
interface Stream {
  /** An SSE stream; absent in JSON mode. */
  sse?: SseResponse;
  /** JSON mode: the response that gets every answer at once. */
  json?: ServerResponse;
  /** Events a resume already sent on this stream, so one stored meanwhile is not sent twice. */
  replayedEventIds?: Set<EventId>;
  cleanup(): void;
}

/** A refusal, before any message reaches the server: a JSON-RPC error with `id: null`. */
class Refusal extends JsonRpcHttpError {
  constructor(status: number, code: JsonRpcErrorCode, message: string, readonly extra: { data?: unknown; headers?: OutgoingHttpHeaders } = {}) {
    super(status, code, message);
  }
}

function writeRefusal(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent || res.destroyed) return;
  const answer = refusal.body();
  const body = JSON.stringify(refusal.extra.data === undefined ? answer : { ...answer, error: { ...answer.error, data: refusal.extra.data } });
  res.writeHead(refusal.status, { 'content-type': 'application/json', ...refusal.extra.headers, 'content-length': Buffer.byteLength(body) }).end(body);
}

/**
 * Content-Type as a web `Headers` reads it: Node keeps only the first of repeated Content-Type
 * lines, and a request with two is not plainly JSON.
 */
function contentTypeOf(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  let joined: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 12 && name.toLowerCase() === 'content-type') joined = joined === undefined ? raw[i + 1]! : `${joined}, ${raw[i + 1]!}`;
  }
  return joined;
}

const headerOf = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
};

/** What a tool is handed about the HTTP request: its headers (the token already withheld) and its URL, parsed when first read. */
function requestInfoOf(req: IncomingMessage): RequestInfo {
  let url: URL | undefined;
  return {
    headers: req.headers,
    get url() {
      url ??= new URL(req.url ?? '/', `${(req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`);
      return url;
    },
  };
}

function sseEvent(message: JSONRPCMessage, eventId: EventId | undefined): string {
  return eventId ? `event: message\nid: ${eventId}\ndata: ${JSON.stringify(message)}\n\n` : `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

/**
 * The MCP Streamable HTTP transport (protocol 2025-11-25 and every earlier version the SDK speaks)
 * on Node's own request and response, implementing the SDK's public `Transport` interface. It
 * answers as the SDK's transport does (the same statuses, JSON-RPC error bodies, headers, SSE
 * events, session and protocol-version checks, resumability through an `EventStore`), without its
 * web `Request`/`Response`/streams and the bridge between them and Node's, and validates each
 * incoming message once (jsonrpc-messages.ts). An SSE answer complete within the turn it started
 * in is sent whole with a Content-Length (sse-response.ts).
 */
export class NodeStreamableHttpTransport implements Transport {
  sessionId: string | undefined;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;

  readonly #sessionIdGenerator: (() => string) | undefined;
  /** Sessions (a generator, or an initialized session id), as opposed to stateless mode. */
  readonly #stateful: boolean;
  readonly #jsonResponse: boolean;
  readonly #eventStore: EventStore | undefined;
  readonly #retryInterval: number | undefined;
  #onsessioninitialized: ((sessionId: string) => void | Promise<void>) | undefined;
  #started = false;
  #handledRequest = false;
  #initialized = false;
  #closed = false;
  readonly #streams = new Map<StreamId, Stream>();
  readonly #streamOfRequest = new Map<RequestId, StreamId>();
  readonly #responses = new Map<RequestId, JSONRPCMessage>();
  /** Streams whose client holds a Last-Event-ID cursor, so a stored response can be replayed on resume. */
  readonly #resumable = new Set<StreamId>();
  /** Requests handed to the server by replay(), each with what settles its wait: their answers go nowhere. */
  readonly #replaying = new Map<RequestId, () => void>();
  #lastActive = Date.now();

  constructor(options: NodeStreamableHttpTransportOptions) {
    this.#sessionIdGenerator = options.sessionIdGenerator;
    this.#stateful = options.sessionIdGenerator !== undefined || options.initializedSessionId !== undefined;
    if (options.initializedSessionId !== undefined) {
      this.sessionId = options.initializedSessionId;
      this.#initialized = true;
    }
    this.#jsonResponse = options.enableJsonResponse ?? false;
    this.#eventStore = options.eventStore;
    this.#retryInterval = options.retryInterval;
    this.#onsessioninitialized = options.onsessioninitialized;
  }

  /** Whether a request taken in has not been answered yet. */
  get answering(): boolean {
    return this.#streamOfRequest.size > 0;
  }

  /**
   * Since when (ms since the epoch) nothing is under way: no request waiting for its answer (a
   * tool still running after its client's stream broke, or waiting on the client's answer to an
   * elicitation, counts), no stream open (the standalone GET stream, a resumed one); undefined
   * while something is. What a session's server could be dropped after.
   */
  get quietSince(): number | undefined {
    return this.#streamOfRequest.size === 0 && this.#streams.size === 0 && this.#replaying.size === 0 ? this.#lastActive : undefined;
  }

  /**
   * Hands the server messages its session's client sent to an earlier server (initialize and
   * what else must be restored), as if they had just arrived; their answers are dropped. Resolves
   * once every request among them is answered, so the server's state is what the client set up.
   */
  async replay(messages: readonly JSONRPCMessage[]): Promise<void> {
    const answered: Promise<void>[] = [];
    for (const message of messages) {
      if (isRequest(message)) answered.push(new Promise((resolve) => this.#replaying.set(message.id, resolve)));
    }
    for (const message of messages) this.onmessage?.(message, {});
    await Promise.all(answered);
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('Transport already started');
    this.#started = true;
  }

  /** Answers one request to the MCP endpoint; `parsedBody` is the POST body as the body parser read it. */
  async handleRequest(req: IncomingMessage & { auth?: AuthInfo }, res: ServerResponse, parsedBody?: unknown): Promise<void> {
    if (this.#closed) return writeRefusal(res, new Refusal(404, JsonRpcCode.SessionNotFound, 'Session not found'));
    // A stateless transport serves one request: request ids from different clients would collide.
    if (!this.#stateful && this.#handledRequest) throw new Error('Stateless transport cannot be reused across requests. Create a new transport per request.');
    this.#handledRequest = true;
    let refusal: Refusal | undefined;
    switch (req.method) {
      case 'POST':
        try {
          refusal = await this.#post(req, res, parsedBody);
        } catch (error) {
          // What fails while the messages are taken in (a session that cannot be registered, a
          // handler that throws at once) is answered as the SDK's transport answers it.
          this.onerror?.(error as Error);
          refusal = new Refusal(400, JsonRpcCode.ParseError, 'Parse error', { data: String(error) });
        }
        break;
      case 'GET':
        refusal = await this.#get(req, res);
        break;
      case 'DELETE':
        refusal = this.#validateSession(req) ?? this.#validateProtocolVersion(req);
        if (!refusal) {
          await this.close();
          if (!res.headersSent && !res.destroyed) res.writeHead(200, { 'content-length': 0 }).end();
        }
        break;
      default:
        refusal = this.#refuse(405, JsonRpcCode.ServerError, 'Method not allowed.', { headers: { allow: 'GET, POST, DELETE' } });
    }
    if (refusal) writeRefusal(res, refusal);
  }

  /** A refusal, reported to `onerror` as the SDK's transport does. */
  #refuse(status: number, code: JsonRpcErrorCode, message: string, extra?: Refusal['extra']): Refusal {
    this.onerror?.(new Error(message));
    return new Refusal(status, code, message, extra);
  }

  async #post(req: IncomingMessage & { auth?: AuthInfo }, res: ServerResponse, parsedBody: unknown): Promise<Refusal | undefined> {
    // Accept is a comma-separated list: a substring check is what the SDK does. Content-Type is a parsed media type.
    const accept = headerOf(req, 'accept');
    if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) {
      return this.#refuse(406, JsonRpcCode.ServerError, 'Not Acceptable: Client must accept both application/json and text/event-stream');
    }
    if (!isJsonContentType(contentTypeOf(req))) return this.#refuse(415, JsonRpcCode.ServerError, 'Unsupported Media Type: Content-Type must be application/json');
    if (parsedBody === undefined) return this.#refuse(400, JsonRpcCode.ParseError, 'Parse error: Invalid JSON');
    if (Array.isArray(parsedBody) && parsedBody.length > MAX_BATCH_SIZE) {
      return this.#refuse(400, JsonRpcCode.InvalidRequest, `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`);
    }
    let messages: JSONRPCMessage[];
    try {
      messages = Array.isArray(parsedBody) ? parsedBody.map(parseMessage) : [parseMessage(parsedBody)];
    } catch {
      return this.#refuse(400, JsonRpcCode.ParseError, 'Parse error: Invalid JSON-RPC message');
    }
    const authInfo = req.auth;
    const requestInfo = requestInfoOf(req);

    const initialize = messages.find(isInitialize);
    if (initialize) {
      if (this.#initialized && this.sessionId !== undefined) return this.#refuse(400, JsonRpcCode.InvalidRequest, 'Invalid Request: Server already initialized');
      if (messages.length > 1) return this.#refuse(400, JsonRpcCode.InvalidRequest, 'Invalid Request: Only one initialization request is allowed');
      this.sessionId = this.#sessionIdGenerator?.();
      this.#initialized = true;
      const onsessioninitialized = this.#onsessioninitialized;
      // Called once; not kept, so what it captured does not live as long as the session.
      this.#onsessioninitialized = undefined;
      if (this.sessionId && onsessioninitialized) await onsessioninitialized(this.sessionId);
    } else {
      const refusal = this.#validateSession(req) ?? this.#validateProtocolVersion(req);
      if (refusal) return refusal;
    }
    // close() may have run while the session was being registered.
    if (this.#closed) return new Refusal(404, JsonRpcCode.SessionNotFound, 'Session not found');

    if (!messages.some(isRequest)) {
      // Only notifications and responses: nothing to answer but 202.
      for (const message of messages) this.onmessage?.(message, { authInfo, requestInfo });
      res.writeHead(202, { 'content-length': 0 }).end();
      return undefined;
    }

    const streamId = randomUUID();
    const clientProtocolVersion = initialize
      ? initialize.params.protocolVersion
      : (headerOf(req, 'mcp-protocol-version') ?? DEFAULT_NEGOTIATED_PROTOCOL_VERSION);

    if (this.#jsonResponse) {
      this.#streams.set(streamId, { json: res, cleanup: () => this.#streams.delete(streamId) });
      for (const message of messages) if (isRequest(message)) this.#streamOfRequest.set(message.id, streamId);
      for (const message of messages) this.onmessage?.(message, { authInfo, requestInfo });
      return undefined;
    }

    const stream = this.#openStream(res, streamId);
    const { sse } = stream;
    for (const message of messages) if (isRequest(message)) this.#streamOfRequest.set(message.id, streamId);
    const resumable = this.#eventStore !== undefined && clientProtocolVersion >= RESUMABLE_FROM;
    try {
      if (resumable) await this.#writePrimingEvent(sse, streamId);
      for (const message of messages) {
        // Closing a request's stream early (SEP-1699 polling) only for a client that can resume it.
        const extra: MessageExtraInfo = resumable && isRequest(message)
          ? { authInfo, requestInfo, closeSSEStream: () => this.closeSSEStream(message.id), closeStandaloneSSEStream: () => this.closeStandaloneSSEStream() }
          : { authInfo, requestInfo };
        this.onmessage?.(message, extra);
      }
    } catch (error) {
      // Nothing was sent yet: release the stream and its requests; the error is the answer.
      stream.cleanup();
      sse.discard();
      this.#resumable.delete(streamId);
      for (const message of messages) if (isRequest(message)) this.#streamOfRequest.delete(message.id);
      throw error;
    }
    sse.start();
    return undefined;
  }

  async #get(req: IncomingMessage, res: ServerResponse): Promise<Refusal | undefined> {
    if (!headerOf(req, 'accept')?.includes('text/event-stream')) return this.#refuse(406, JsonRpcCode.ServerError, 'Not Acceptable: Client must accept text/event-stream');
    const refusal = this.#validateSession(req) ?? this.#validateProtocolVersion(req);
    if (refusal) return refusal;
    if (this.#eventStore) {
      const lastEventId = headerOf(req, 'last-event-id');
      if (lastEventId) return this.#replay(this.#eventStore, lastEventId, res);
    }
    if (this.#streams.has(STANDALONE_STREAM)) return this.#refuse(409, JsonRpcCode.ServerError, 'Conflict: Only one SSE stream is allowed per session');
    this.#openStream(res, STANDALONE_STREAM).sse.start();
    return undefined;
  }

  /** A new SSE stream registered as `streamId` (not yet started); the client leaving forgets it, unless a resume has already replaced it. */
  #openStream(res: ServerResponse, streamId: StreamId): Stream & { sse: SseResponse } {
    const sse = new SseResponse(res, this.#headersWithSession(SSE_HEADERS));
    const stream: Stream & { sse: SseResponse } = {
      sse,
      cleanup: () => {
        if (this.#streams.get(streamId) === stream) this.#streams.delete(streamId);
        sse.end();
      },
    };
    sse.onClientLeft = () => {
      if (this.#streams.get(streamId) === stream) this.#streams.delete(streamId);
    };
    this.#streams.set(streamId, stream);
    return stream;
  }

  /** A resume (GET with Last-Event-ID): the stream's missed events, then the stream itself, live again. */
  async #replay(store: EventStore, lastEventId: EventId, res: ServerResponse): Promise<Refusal | undefined> {
    let sse: SseResponse | undefined;
    try {
      let streamId: StreamId | undefined;
      if (store.getStreamIdForEventId) {
        streamId = await store.getStreamIdForEventId(lastEventId);
        if (!streamId) return this.#refuse(400, JsonRpcCode.ServerError, 'Invalid event ID format');
        if (this.#streams.has(streamId)) return this.#refuse(409, JsonRpcCode.ServerError, 'Conflict: Stream already has an active connection');
      }
      const writer = new SseResponse(res, this.#headersWithSession(SSE_HEADERS));
      sse = writer;
      let cancelled = false;
      let replayed: StreamId | undefined;
      const stream: Stream = {
        sse: writer,
        replayedEventIds: new Set(),
        cleanup: () => {
          if (replayed !== undefined && this.#streams.get(replayed) === stream) this.#streams.delete(replayed);
          writer.end();
        },
      };
      writer.onClientLeft = () => {
        cancelled = true;
        if (replayed !== undefined && this.#streams.get(replayed) === stream) this.#streams.delete(replayed);
      };
      replayed = await store.replayEventsAfter(lastEventId, {
        send: async (eventId, message) => {
          if (writer.write(sseEvent(message, eventId))) stream.replayedEventIds!.add(eventId);
          else this.onerror?.(new Error('Failed replay events'));
        },
      });
      // close() may have run, or the client left, while the store was replaying: hand out nothing.
      if (this.#closed || cancelled) {
        writer.discard();
        return new Refusal(404, JsonRpcCode.SessionNotFound, 'Session not found');
      }
      // A reconnect re-registers the stream id: the predecessor's stream ends cleanly.
      this.#streams.get(replayed)?.cleanup();
      this.#streams.set(replayed, stream);
      // The resume itself proves the client holds a Last-Event-ID cursor.
      this.#resumable.add(replayed);
      writer.start();
      return undefined;
    } catch (error) {
      sse?.discard();
      this.onerror?.(error as Error);
      return new Refusal(500, JsonRpcCode.ServerError, 'Error replaying events');
    }
  }

  async #writePrimingEvent(sse: SseResponse, streamId: StreamId): Promise<void> {
    const id = await this.#eventStore!.storeEvent(streamId, {} as JSONRPCMessage);
    sse.write(this.#retryInterval === undefined ? `id: ${id}\ndata: \n\n` : `id: ${id}\nretry: ${this.#retryInterval}\ndata: \n\n`);
    this.#resumable.add(streamId);
  }

  #headersWithSession(headers: Readonly<OutgoingHttpHeaders>): OutgoingHttpHeaders {
    return this.sessionId === undefined ? { ...headers } : { ...headers, 'mcp-session-id': this.sessionId };
  }

  #validateSession(req: IncomingMessage): Refusal | undefined {
    // Stateless: there is no session to check.
    if (!this.#stateful) return undefined;
    if (!this.#initialized) return this.#refuse(400, JsonRpcCode.ServerError, 'Bad Request: Server not initialized');
    const sessionId = headerOf(req, 'mcp-session-id');
    if (!sessionId) return this.#refuse(400, JsonRpcCode.ServerError, 'Bad Request: Mcp-Session-Id header is required');
    if (sessionId !== this.sessionId) return this.#refuse(404, JsonRpcCode.SessionNotFound, 'Session not found');
    return undefined;
  }

  /** A request without MCP-Protocol-Version gets the version negotiated at initialization; an unknown one is refused. */
  #validateProtocolVersion(req: IncomingMessage): Refusal | undefined {
    const version = headerOf(req, 'mcp-protocol-version');
    if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      return this.#refuse(400, JsonRpcCode.ServerError, `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`);
    }
    return undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const { cleanup } of [...this.#streams.values()]) cleanup();
    this.#streams.clear();
    this.#responses.clear();
    this.#resumable.clear();
    this.onclose?.();
  }

  /** Ends the SSE stream of a request early; a client that can resume comes back for the rest. */
  closeSSEStream(requestId: RequestId): void {
    const streamId = this.#streamOfRequest.get(requestId);
    if (streamId !== undefined) this.#streams.get(streamId)?.cleanup();
  }

  closeStandaloneSSEStream(): void {
    this.#streams.get(STANDALONE_STREAM)?.cleanup();
  }

  async send(message: JSONRPCMessage, options?: { relatedRequestId?: RequestId }): Promise<void> {
    this.#lastActive = Date.now();
    const response = isResponse(message);
    const requestId = response ? (message as { id?: RequestId }).id : options?.relatedRequestId;
    if (requestId !== undefined && this.#replaying.has(requestId)) {
      if (response) {
        this.#replaying.get(requestId)!();
        this.#replaying.delete(requestId);
      }
      return;
    }

    if (requestId === undefined) {
      // Neither a response nor related to a request: the server's own message, for the GET stream.
      if (response) throw new Error('Cannot send a response on a standalone SSE stream unless resuming a previous client request');
      // Stored even with no stream open, so a client that reconnects gets it.
      const eventId = this.#eventStore ? await this.#eventStore.storeEvent(STANDALONE_STREAM, message) : undefined;
      const standalone = this.#streams.get(STANDALONE_STREAM);
      if (standalone?.sse && (eventId === undefined || !standalone.replayedEventIds?.has(eventId))) {
        if (!standalone.sse.write(sseEvent(message, eventId))) this.onerror?.(new Error('the standalone SSE stream is closed'));
      }
      return;
    }

    const streamId = this.#streamOfRequest.get(requestId);
    if (streamId === undefined) throw new Error(`No connection established for request ID: ${String(requestId)}`);
    let stream = this.#streams.get(streamId);
    if (!this.#jsonResponse) {
      let eventId: EventId | undefined;
      if (this.#eventStore) {
        // Stored even if the stream is gone (the client was asked to poll), for the resume.
        eventId = await this.#eventStore.storeEvent(streamId, message);
        // A resume may have replaced the stream while the store was writing.
        stream = this.#streams.get(streamId);
      }
      if (stream?.sse && (eventId === undefined || !stream.replayedEventIds?.has(eventId))) {
        if (stream.sse.write(sseEvent(message, eventId))) {
          if (eventId !== undefined) this.#resumable.add(streamId);
        } else this.onerror?.(new Error(`the SSE stream of request ${String(requestId)} is closed`));
      }
    }
    if (!response) return;

    this.#responses.set(requestId, message);
    const related: RequestId[] = [];
    for (const [id, sid] of this.#streamOfRequest) {
      if (sid !== streamId) continue;
      if (!this.#responses.has(id)) return;
      related.push(id);
    }
    // Every request of that POST is answered.
    const release = () => {
      for (const id of related) {
        this.#responses.delete(id);
        this.#streamOfRequest.delete(id);
      }
    };
    if (!stream) {
      // close() ran while the store was writing: a late completion, nothing to do.
      if (this.#closed) return release();
      if (!this.#jsonResponse && this.#eventStore && this.#resumable.has(streamId)) {
        // The stream went away but the response is stored for the resume.
        release();
        this.#resumable.delete(streamId);
        return;
      }
      release();
      throw new Error(`No connection established for request ID: ${String(requestId)}`);
    }
    if (stream.json) {
      const answers = related.map((id) => this.#responses.get(id));
      const res = stream.json;
      stream.cleanup();
      if (!res.headersSent && !res.destroyed) {
        const body = JSON.stringify(answers.length === 1 ? answers[0] : answers);
        res.writeHead(200, this.#headersWithSession({ 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })).end(body);
      }
    } else stream.cleanup();
    release();
    this.#resumable.delete(streamId);
  }
}
