import type { ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { armSseKeepAlive, DEFAULT_SSE_KEEP_ALIVE_MS } from '@modelcontextprotocol/sdk/server/sseKeepAlive.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import express, { type Request, type RequestHandler, type Router } from 'express';
import { JsonRpcCode, JsonRpcHttpError } from '../errors.js';
import type { Logger } from '../log.js';
import { callerOf } from './bearer.js';
import { methodNotAllowed } from './method-not-allowed.js';
import { clientLeft, type McpSession, type SessionRegistry } from './sessions.js';

/** Where the 2024-11-05 transport lives: the event stream, and where its `endpoint` event sends messages. */
export const LEGACY_SSE_PATHS = { stream: '/sse', messages: '/messages' } as const;

export interface StreamLimits {
  /**
   * Between SSE comments on a stream: a reverse proxy cuts a quiet connection at its idle timeout
   * (nginx: 60 s), and a client that vanished without closing (a laptop put to sleep) is noticed
   * only while there is data to send it, when TCP gives up retransmitting (minutes). The SDK's
   * cadence for /mcp streams.
   */
  keepAliveMs: number;
  /**
   * Bytes written to a stream and still in the server's own buffer (the response's
   * writableLength), beyond what the kernel's socket buffers took. Past it the stream, and its
   * session, ends: a client that posts to /messages but never reads its stream would otherwise
   * make the server hold every answer.
   */
  maxBufferedBytes: number;
}

export const LEGACY_STREAM_LIMITS: StreamLimits = { keepAliveMs: DEFAULT_SSE_KEEP_ALIVE_MS, maxBufferedBytes: 1024 * 1024 };

export interface LegacySseEndpointDeps {
  /** Runs first on every method but OPTIONS, on both paths: the Origin check and the bearer guard. */
  guards: RequestHandler[];
  createServer: () => McpServer;
  /** Shared with /mcp: the same caps count both transports' sessions. */
  sessions: SessionRegistry;
  log: Logger;
  maxBodyBytes: number;
  streamLimits?: StreamLimits;
}

/** The SDK's transport, with a stream that is kept alive and ended when the client stops reading or a write fails. */
export class WatchedSseTransport extends SSEServerTransport {
  /** Why the server ended the stream, if it did. */
  endedBecause: 'not_reading' | 'write_failed' | undefined;
  #keepAlive: NodeJS.Timeout | undefined;

  constructor(endpoint: string, private readonly stream: ServerResponse, private readonly limits: StreamLimits) {
    super(endpoint, stream);
  }

  override async start(): Promise<void> {
    await super.start();
    // The SDK's own keep-alive timer for its streams (unref'd).
    this.#keepAlive = armSseKeepAlive(this.limits.keepAliveMs, () => this.#keepAliveTick());
    this.stream.once('close', () => clearInterval(this.#keepAlive));
  }

  /**
   * Shutdown ends the stream this way: the answers still buffered go out first, and a
   * keep-alive written after the end would fail and destroy the stream, dropping them.
   */
  override async close(): Promise<void> {
    clearInterval(this.#keepAlive);
    await super.close();
  }

  #keepAliveTick(): void {
    if (this.stream.writableEnded || this.stream.destroyed) return;
    this.stream.write(': keepalive\n\n', (error) => {
      if (error) this.#end('write_failed');
    });
    this.#checkBacklog();
  }

  override async send(message: JSONRPCMessage): Promise<void> {
    await super.send(message);
    this.#checkBacklog();
  }

  #checkBacklog(): void {
    if (this.stream.writableLength > this.limits.maxBufferedBytes) this.#end('not_reading');
  }

  /** Destroyed rather than ended: ending would wait for the client to read what is buffered. Its `close` closes the session. */
  #end(reason: NonNullable<WatchedSseTransport['endedBecause']>): void {
    this.endedBecause ??= reason;
    this.stream.destroy();
  }
}

/** The request's URL as the SDK's own POST handler reports it to the server. */
function requestUrl(req: Request): URL | undefined {
  const host = req.get('host');
  return host ? new URL(req.originalUrl, `${req.protocol}://${host}`) : undefined;
}

/**
 * The HTTP+SSE transport of MCP 2024-11-05, for clients configured with a `/sse` URL (Gemini CLI's
 * `url`, older SDK clients): `GET /sse` opens an event stream whose first event, `endpoint`, names
 * `/messages?sessionId=…`; the client POSTs its JSON-RPC messages there and reads every answer from
 * the stream. The SDK's SSEServerTransport speaks the protocol; around it is what /mcp has: the
 * bearer guard before any routing, sessions bound to the user and client that opened them and
 * capped together with /mcp's, the body limit, and JSON-RPC errors for bad input. A session lives
 * exactly as long as its stream: it is never idle while the stream is open, and when the stream
 * closes (the client went away or stopped reading, or shutdown) it is forgotten.
 */
export function legacySseEndpoint(deps: LegacySseEndpointDeps): Router {
  const { sessions, createServer, log } = deps;
  const limits = deps.streamLimits ?? LEGACY_STREAM_LIMITS;
  const { stream, messages } = LEGACY_SSE_PATHS;
  const router = express.Router();
  const json = express.json({ limit: deps.maxBodyBytes, type: () => true, inflate: false });

  const openStream: RequestHandler = async (req, res) => {
    const caller = callerOf(req);
    if (clientLeft(req, res)) return;
    sessions.admit(caller);
    const server = createServer();
    const transport = new WatchedSseTransport(messages, res, limits);
    const session: McpSession<'sse'> = { id: transport.sessionId, kind: 'sse', live: { server, transport }, owner: caller, lastSeen: Date.now(), inFlight: 0 };
    transport.onclose = () => sessions.forget(session.id, transport.endedBecause ?? 'stream_closed');
    sessions.add(session);
    sessions.track(session, res);
    // A buffering reverse proxy (nginx) would hold the endpoint event back until the buffer fills.
    res.set('X-Accel-Buffering', 'no');
    await server.connect(transport);
    log.info('mcp.session_opened', { session: session.id.slice(0, 8), account: caller.subject, client: caller.clientId, transport: 'sse' });
  };

  const postMessage: RequestHandler = async (req, res) => {
    const sessionId = req.query.sessionId;
    if (typeof sessionId !== 'string' || sessionId === '') {
      throw new JsonRpcHttpError(400, JsonRpcCode.ServerError, `Bad Request: sessionId is required (the URL from the endpoint event of GET ${stream})`);
    }
    const session = sessions.sessionOf(sessionId, 'sse', callerOf(req));
    sessions.track(session, res);
    // The transport's handleMessage validates the message, once; its handlePostMessage would
    // answer an invalid one with a plain-text 400 echoing the body.
    try {
      await session.live.transport.handleMessage(req.body, { authInfo: req.auth, requestInfo: { headers: req.headers, url: requestUrl(req) } });
    } catch {
      throw new JsonRpcHttpError(400, JsonRpcCode.InvalidRequest, 'Invalid Request: the body is not a JSON-RPC message');
    }
    res.status(202).end('Accepted');
  };

  const requireJson: RequestHandler = (req, _res, next) => {
    if (!req.is('application/json')) throw new JsonRpcHttpError(415, JsonRpcCode.InvalidRequest, 'Unsupported Media Type: Content-Type must be application/json');
    next();
  };

  // OPTIONS carries no token: a browser's preflight never does (cors() answers those earlier).
  router.options(stream, (_req, res) => {
    res.set('Allow', 'GET, HEAD, OPTIONS').status(204).end();
  });
  router.options(messages, (_req, res) => {
    res.set('Allow', 'POST, OPTIONS').status(204).end();
  });
  router.all([stream, messages], ...deps.guards);
  // HEAD is how Gemini CLI probes for the challenge; with a valid token it says what GET would, without opening a session.
  router.head(stream, (_req, res) => {
    res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform' }).end();
  });
  router.get(stream, openStream);
  // A client given a /sse URL first tries Streamable HTTP there: a POST. The MCP spec lets the
  // answer be 404 or 405; Gemini CLI falls back to SSE after signing in only on a 404
  // (mcp-client.js retryWithOAuth), so the POST gets 404, and other methods 405.
  router.post(stream, () => {
    throw new JsonRpcHttpError(404, JsonRpcCode.ServerError, `Not Found: POST ${stream} is not an MCP endpoint; Streamable HTTP is at /mcp, and this transport posts to ${messages}`);
  });
  router.all(stream, methodNotAllowed('GET, HEAD, OPTIONS'));
  router.post(messages, requireJson, json, postMessage);
  router.all(messages, methodNotAllowed('POST, OPTIONS'));
  return router;
}
