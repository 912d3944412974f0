import type { RequestHandler } from 'express';
import { JsonRpcCode } from '../errors.js';
import { isLoopbackHostname } from '../loopback.js';
import { sendError } from './error-response.js';

/**
 * DNS-rebinding protection for a server on this machine: a page on evil.example whose name
 * re-resolves to 127.0.0.1 still sends `Host: evil.example`, and is refused. Only used when the
 * public URL is loopback; behind a proxy the Host seen here is the proxy's business.
 */
export function loopbackHostCheck(): RequestHandler {
  return (req, res, next) => {
    const host = req.headers.host;
    const hostname = host ? URL.parse(`http://${host}`)?.hostname : undefined;
    if (hostname && isLoopbackHostname(hostname)) {
      next();
      return;
    }
    sendError(req, res, {
      status: 403,
      oauth: 'invalid_request',
      jsonRpc: JsonRpcCode.ServerError,
      message: `Host "${host ?? ''}" is not served here; this server answers on localhost only`,
    });
  };
}
