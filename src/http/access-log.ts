import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import type { LineSink } from '../log.js';

/**
 * Query parameters whose values are secrets or one-time credentials; the access log shows them as
 * "REDACTED". The legacy transport's `sessionId` too: logs name sessions by their first 8 characters.
 */
const SECRET_PARAMS = new Set([
  'code', 'code_verifier', 'state', 'access_token', 'refresh_token', 'id_token', 'id_token_hint', 'token',
  'client_secret', 'password', 'registration_access_token', 'logout_token', 'assertion', 'client_assertion',
  'sessionid',
]);

export function redactUrl(url: string | undefined): string {
  if (!url) return '-';
  const query = url.indexOf('?');
  if (query === -1) return url;
  const params = new URLSearchParams(url.slice(query + 1));
  let changed = false;
  for (const key of new Set(params.keys())) {
    if (SECRET_PARAMS.has(key.toLowerCase())) {
      params.set(key, 'REDACTED');
      changed = true;
    }
  }
  return changed ? `${url.slice(0, query)}?${params.toString()}` : url;
}

// Control characters, line separators, quotes and backslashes: what morgan escaped.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029"\\]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A field as morgan printed it: escaped so a crafted header cannot forge a line, "-" when absent or empty. */
function logField(value: string | number | undefined): string {
  if (value === undefined || value === '') return '-';
  return String(value).replace(UNSAFE, (ch) => ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function header(value: string | string[] | number | undefined): string | number | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** One line in the seed's morgan "combined"-like format, from what the request and response say once it has ended. */
export function accessLine(req: IncomingMessage & Partial<Pick<Request, 'ip' | 'originalUrl'>>, res: ServerResponse, elapsedMs: number): string {
  const sent = res.headersSent;
  const referrer = header(req.headers.referer ?? req.headers.referrer);
  return `${logField(req.ip || req.socket.remoteAddress)} - [${new Date().toISOString()}] "${logField(req.method)} ${logField(redactUrl(req.originalUrl ?? req.url))} HTTP/${req.httpVersionMajor}.${req.httpVersionMinor}" `
    + `${sent ? res.statusCode : '-'} ${logField(sent ? header(res.getHeader('content-length')) : undefined)} "${logField(redactUrl(referrer === undefined ? undefined : String(referrer)))}" "${logField(req.headers['user-agent'])}" ${elapsedMs.toFixed(3)} ms`;
}

/**
 * The access log: one line per request when its response has ended (or its connection closed),
 * with secrets in URLs and referrers redacted; the Authorization header and bodies are never
 * logged. The format is the seed's morgan one, but written here with one `close` listener per
 * request: morgan's header and finish hooks cost several percent of a `tools/call`. The time is
 * until the response ended (for an event stream, how long it was open), not until its headers.
 */
export function accessLog(sink: LineSink): RequestHandler {
  return (req, res, next) => {
    const start = performance.now();
    res.once('close', () => sink.write(accessLine(req, res, performance.now() - start)));
    next();
  };
}
