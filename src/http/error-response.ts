import type { ErrorRequestHandler, Request, Response } from 'express';
import { errorPage } from '../../views/error.js';
import { httpStatusOf, JsonRpcCode, JsonRpcHttpError, OAuthHttpError, PageError, StorageBusyError, type JsonRpcErrorCode, type OAuthErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { setPageHeaders } from './page-headers.js';

/** Which protocol a path speaks, and so which error format it answers in. */
export type Area = 'mcp' | 'page' | 'oauth';

/** Where an upstream (GitHub, the OIDC provider) sends the browser back: pages, like the sign-in pages. */
const UPSTREAM_CALLBACKS = new Set(['/github/callback', '/oidc/callback']);

export function areaOf(req: Request): Area {
  if (req.path === '/mcp' || req.path.startsWith('/mcp/') || req.path === '/sse' || req.path === '/messages') return 'mcp';
  if (req.path.startsWith('/interaction/') || req.path === '/' || UPSTREAM_CALLBACKS.has(req.path)) return 'page';
  return 'oauth';
}

export interface ErrorAnswer {
  status: number;
  oauth: OAuthErrorCode;
  jsonRpc: JsonRpcErrorCode;
  message: string;
}

/** Answers in the format of the area the request was for: JSON-RPC on /mcp, a page for browsers, OAuth JSON elsewhere. */
export function sendError(req: Request, res: Response, answer: ErrorAnswer): void {
  res.status(answer.status);
  switch (areaOf(req)) {
    case 'mcp':
      res.json(new JsonRpcHttpError(answer.status, answer.jsonRpc, answer.message).body());
      return;
    case 'page':
      setPageHeaders(res);
      res.send(errorPage(answer.status >= 500 ? 'Something went wrong' : 'Request refused', answer.message));
      return;
    default:
      res.set('Cache-Control', 'no-store');
      res.json(new OAuthHttpError(answer.status, answer.oauth, answer.message).body());
  }
}

/**
 * Errors that describe a bad request rather than a fault: body-parser's (with a `type`), and any
 * other carrying a 4xx status (Express's URIError for a malformed path, for one).
 */
function requestProblem(error: unknown): ErrorAnswer | undefined {
  const status = httpStatusOf(error);
  if (status === undefined || status >= 500) return undefined;
  switch ((error as { type?: unknown }).type) {
    case 'entity.parse.failed':
      return { status: 400, oauth: 'invalid_request', jsonRpc: JsonRpcCode.ParseError, message: 'Parse error: the body is not valid JSON' };
    case 'entity.too.large':
    case 'parameters.too.many':
      return { status: 413, oauth: 'invalid_request', jsonRpc: JsonRpcCode.InvalidRequest, message: 'The request body is too large' };
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return { status: 415, oauth: 'invalid_request', jsonRpc: JsonRpcCode.InvalidRequest, message: 'Unsupported body encoding or charset' };
    case undefined:
      return { status, oauth: 'invalid_request', jsonRpc: JsonRpcCode.InvalidRequest, message: 'Bad request' };
    default:
      return { status, oauth: 'invalid_request', jsonRpc: JsonRpcCode.InvalidRequest, message: 'The request body could not be read' };
  }
}

/** The last handler: every error becomes a protocol error body; only real faults are 500s, and they are logged. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (error instanceof OAuthHttpError) {
      res.status(error.status).set('Cache-Control', 'no-store').json(error.body());
      return;
    }
    if (error instanceof JsonRpcHttpError) {
      res.status(error.status).json(error.body());
      return;
    }
    if (error instanceof PageError) {
      setPageHeaders(res);
      res.status(error.status).send(errorPage(error.title, error.message));
      return;
    }
    if (error instanceof StorageBusyError) {
      log.warn('storage.busy', { method: req.method, path: req.path, waitedMs: error.waitedMs });
      res.set('Retry-After', String(error.retryAfterSeconds));
      sendError(req, res, { status: 503, oauth: 'temporarily_unavailable', jsonRpc: JsonRpcCode.ServerError, message: 'The server is busy; try again shortly' });
      return;
    }
    const problem = requestProblem(error);
    if (problem) {
      sendError(req, res, problem);
      return;
    }
    log.error('http.unhandled_error', { method: req.method, path: req.path, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    sendError(req, res, { status: 500, oauth: 'server_error', jsonRpc: JsonRpcCode.InternalError, message: 'Internal error' });
  };
}
