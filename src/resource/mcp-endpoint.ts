import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { JsonRpcCode, JsonRpcHttpError } from '../errors.js';
import { jsonBody } from '../http/json-body.js';
import type { Logger } from '../log.js';
import { callerOf } from './bearer.js';
import { methodNotAllowed } from './method-not-allowed.js';
import { NodeStreamableHttpTransport } from './node-streamable-transport.js';
import { clientLeft, type SessionRegistry } from './sessions.js';
import { StreamableSessions } from './streamable-sessions.js';

export interface McpEndpointDeps {
  /** Runs first on every method but OPTIONS: the bearer check (and anything else that must precede routing). */
  guards: RequestHandler[];
  createServer: () => McpServer;
  /** Stateful sessions, or undefined for stateless mode (a new server and transport per request). */
  sessions: SessionRegistry | undefined;
  log: Logger;
  maxBodyBytes: number;
}

const ACCEPT_BOTH = 'application/json, text/event-stream';

/**
 * The SDK transport insists on `Accept` listing both JSON and SSE; some clients send none or `*\/*`
 * (gemini-cli#20018). Both are what a client without a preference can read.
 */
function tolerateAccept(req: Request): void {
  const accept = req.headers.accept ?? '';
  if (req.method === 'POST' && !(accept.includes('application/json') && accept.includes('text/event-stream'))) {
    if (accept === '' || accept.includes('*/*')) req.headers.accept = ACCEPT_BOTH;
  }
  if (req.method === 'GET' && (accept === '' || accept.includes('*/*'))) req.headers.accept = 'text/event-stream';
}

const containsInitialize = (body: unknown) => (Array.isArray(body) ? body.some(isInitializeRequest) : isInitializeRequest(body));

/** The /mcp router, and what it runs for `POST /mcp` (every call a client makes), in order, for a dispatch that skips the router. */
export type McpEndpoint = Router & { postChain: readonly RequestHandler[] };

/** `/mcp`: Streamable HTTP, with every method behind the bearer guard. */
export function mcpEndpoint(deps: McpEndpointDeps): McpEndpoint {
  const { sessions, createServer, log } = deps;
  const router = express.Router();
  // No compressed bodies: no MCP client sends them, and inflating is work an attacker chooses.
  const json = jsonBody(deps.maxBodyBytes);

  const stateless = async (req: Request, res: Response) => {
    const server = createServer();
    const transport = new NodeStreamableHttpTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    // A client that leaves before its answer: the server is closed, which aborts the tool's work.
    // Answered, there is nothing left to end (no timer, no stream) and the server is simply dropped;
    // closing it would cost more than the rest of its life (the SDK makes a "Connection closed"
    // error, with its stack trace, for requests it has none of).
    res.once('close', () => {
      if (transport.answering) void server.close().catch(() => undefined);
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  };

  const stateful = async (req: Request, res: Response, opener: StreamableSessions) => {
    const { registry } = opener;
    const caller = callerOf(req);
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (sessionId) {
      const session = registry.sessionOf(sessionId, 'streamable', caller);
      // Counted before a rebuild, so the session is neither shed nor evicted while it waits.
      registry.track(session, res);
      const { transport } = session.live ?? (await opener.liveOf(session));
      await transport.handleRequest(req, res, req.body);
      return;
    }
    if (req.method !== 'POST' || !containsInitialize(req.body)) {
      throw new JsonRpcHttpError(400, JsonRpcCode.ServerError, 'Bad Request: No valid session ID provided');
    }
    if (clientLeft(req, res)) return;
    registry.admit(caller);
    const { transport } = await opener.open(caller, res);
    await transport.handleRequest(req, res, req.body);
  };

  const streamable = sessions && new StreamableSessions(sessions, createServer, log);
  const handle: RequestHandler = async (req, res) => {
    tolerateAccept(req);
    if (streamable) await stateful(req, res, streamable);
    else await stateless(req, res);
  };

  const allow = sessions ? 'GET, POST, DELETE, OPTIONS' : 'POST, OPTIONS';
  // OPTIONS carries no token: a browser's preflight never does. It only says what is allowed.
  router.options('/mcp', (_req, res) => {
    res.set('Allow', allow).status(204).end();
  });
  router.all('/mcp', ...deps.guards);
  router.post('/mcp', json, handle);
  if (sessions) {
    router.get('/mcp', handle);
    router.delete('/mcp', handle);
  }
  router.all('/mcp', methodNotAllowed(allow, sessions ? undefined : 'Method not allowed: this server is stateless; use POST'));
  return Object.assign(router, { postChain: [...deps.guards, json, handle] });
}
