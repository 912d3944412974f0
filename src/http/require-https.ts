import type { RequestHandler } from 'express';
import { JsonRpcCode } from '../errors.js';
import type { Logger } from '../log.js';
import { sendError } from './error-response.js';

/**
 * With an https PUBLIC_URL this server sits behind a TLS-terminating proxy, which must say so with
 * `X-Forwarded-Proto: https`. A request that arrives without it (a misconfigured proxy, or someone
 * bypassing it) is refused plainly, instead of getting cookies marked Secure over plain HTTP (which
 * would fail deep inside the authorization server) or sending tokens in the clear.
 */
export function requireHttps(log: Logger): RequestHandler {
  let warned = false;
  return (req, res, next) => {
    if (req.protocol === 'https') {
      next();
      return;
    }
    if (!warned) {
      warned = true;
      log.warn('http.not_https', { ip: req.ip, path: req.path, hint: 'PUBLIC_URL is https: the proxy in front must send X-Forwarded-Proto: https (and TRUST_PROXY must count it)' });
    }
    sendError(req, res, { status: 400, oauth: 'invalid_request', jsonRpc: JsonRpcCode.ServerError, message: 'This server is only reachable over https (through its proxy)' });
  };
}
