import type { IncomingMessage, ServerResponse } from 'node:http';
import morgan from 'morgan';
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

morgan.token('safe-url', (req: IncomingMessage) => redactUrl((req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url));
morgan.token('safe-referrer', (req: IncomingMessage) => {
  const referrer = req.headers.referer ?? req.headers.referrer;
  return redactUrl(Array.isArray(referrer) ? referrer[0] : referrer);
});

/**
 * The seed's morgan "combined" access log, with secrets in URLs and referrers redacted. The
 * Authorization header and bodies are never logged.
 */
export function accessLog(sink: LineSink) {
  return morgan<IncomingMessage, ServerResponse>(
    ':remote-addr - [:date[iso]] ":method :safe-url HTTP/:http-version" :status :res[content-length] ":safe-referrer" ":user-agent" :response-time ms',
    { stream: { write: (line: string) => sink.write(line) } },
  );
}
