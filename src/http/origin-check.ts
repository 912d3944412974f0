import type { RequestHandler } from 'express';
import { JsonRpcCode } from '../errors.js';
import { isLoopbackUrl } from '../loopback.js';
import { sendError } from './error-response.js';

export interface OriginPolicy {
  publicUrl: string;
  loopbackOnly: boolean;
  allowedOrigins: string[];
}

/**
 * Which web pages may call /mcp and /register from a browser (the MCP transport spec's Origin
 * check). Requests without an Origin (CLIs, SDKs, servers) are not browsers and pass. A server on
 * this machine accepts pages served from this machine plus ALLOWED_ORIGINS, so a web page cannot
 * use the user's browser to reach it or use up its registration limit; a public server accepts any
 * page, since a page still needs a token a user approved for its own client, unless ALLOWED_ORIGINS
 * narrows it.
 */
export function originCheck(policy: OriginPolicy): RequestHandler {
  const listed = new Set([policy.publicUrl, ...policy.allowedOrigins]);
  const allowed = (origin: string) => listed.has(origin)
    || (policy.loopbackOnly ? isLoopbackUrl(URL.parse(origin)) : policy.allowedOrigins.length === 0);
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin === undefined || allowed(origin)) {
      next();
      return;
    }
    sendError(req, res, { status: 403, oauth: 'invalid_request', jsonRpc: JsonRpcCode.ServerError, message: `Origin ${origin} may not use this server` });
  };
}
