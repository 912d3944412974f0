import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import express, { type RequestHandler, type Router } from 'express';
import { JsonRpcCode, JsonRpcHttpError } from '../errors.js';
import type { Logger } from '../log.js';
import { callerOf } from './bearer.js';
import type { McpSession, SessionRegistry } from './sessions.js';

/** Where the 2024-11-05 transport lives: the event stream, and where its `endpoint` event sends messages. */
export const LEGACY_SSE_PATHS = { stream: '/sse', messages: '/messages' } as const;

export interface LegacySseEndpointDeps {
  /** Runs first on every method but OPTIONS, on both paths: the Origin check and the bearer guard for the /sse resource. */
  guards: RequestHandler[];
  createServer: () => McpServer;
  /** Shared with /mcp: the same caps count both transports' sessions. */
  sessions: SessionRegistry;
  log: Logger;
  maxBodyBytes: number;
}

const methodNotAllowed = (allow: string): RequestHandler => (_req, res) => {
  res.set('Allow', allow);
  throw new JsonRpcHttpError(405, JsonRpcCode.ServerError, 'Method not allowed');
};

/**
 * The HTTP+SSE transport of MCP 2024-11-05, for clients configured with a `/sse` URL (Gemini CLI's
 * `url`, older SDK clients): `GET /sse` opens an event stream whose first event, `endpoint`, names
 * `/messages?sessionId=…`; the client POSTs its JSON-RPC messages there and reads every answer from
 * the stream. The SDK's SSEServerTransport speaks the protocol; around it is what /mcp has: the
 * bearer guard before any routing, sessions bound to the user and client that opened them and
 * capped together with /mcp's, the body limit, and JSON-RPC errors for bad input. A session lives
 * exactly as long as its stream: it is never idle while the stream is open, and when the stream
 * closes (the client went away, or shutdown) it is forgotten.
 */
export function legacySseEndpoint(deps: LegacySseEndpointDeps): Router {
  const { sessions, createServer, log } = deps;
  const { stream, messages } = LEGACY_SSE_PATHS;
  const router = express.Router();
  const json = express.json({ limit: deps.maxBodyBytes, type: () => true, inflate: false });

  const openStream: RequestHandler = async (req, res) => {
    const caller = callerOf(req);
    sessions.admit(caller);
    const server = createServer();
    const transport = new SSEServerTransport(messages, res);
    const session: McpSession<SSEServerTransport> = { id: transport.sessionId, server, transport, owner: caller, lastSeen: Date.now(), inFlight: 0 };
    transport.onclose = () => {
      // Closed by the registry (eviction, shutdown) it is already gone; otherwise the client left.
      if (!sessions.get(session.id)) return;
      sessions.forget(session.id);
      log.info('mcp.session_closed', { session: session.id.slice(0, 8), account: caller.subject, reason: 'stream_closed' });
    };
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
    const session = sessions.sessionOf(sessionId, SSEServerTransport, callerOf(req));
    if (!JSONRPCMessageSchema.safeParse(req.body).success) {
      throw new JsonRpcHttpError(400, JsonRpcCode.InvalidRequest, 'Invalid Request: the body is not a JSON-RPC message');
    }
    sessions.track(session, res);
    await session.transport.handlePostMessage(req, res, req.body);
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
