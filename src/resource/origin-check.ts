import type { RequestHandler } from 'express';
import { JsonRpcCode, JsonRpcHttpError } from '../errors.js';
import { isLoopbackUrl } from '../loopback.js';

export interface OriginPolicy {
  publicUrl: string;
  loopbackOnly: boolean;
  allowedOrigins: string[];
}

/**
 * Which web pages may call /mcp from a browser (the MCP transport spec's Origin check). Requests
 * without an Origin (CLIs, SDKs, servers) are not browsers and pass. A server on this machine
 * accepts pages served from this machine plus ALLOWED_ORIGINS; a public server accepts any page,
 * since a page still needs a token that a user approved for its own client, unless ALLOWED_ORIGINS
 * narrows it.
 */
export function originCheck(policy: OriginPolicy): RequestHandler {
  const listed = new Set([policy.publicUrl, ...policy.allowedOrigins]);
  const allowed = (origin: string) => listed.has(origin)
    || (policy.loopbackOnly ? isLoopbackUrl(URL.parse(origin)) : policy.allowedOrigins.length === 0);
  return (req, _res, next) => {
    const origin = req.headers.origin;
    if (origin === undefined || allowed(origin)) {
      next();
      return;
    }
    next(new JsonRpcHttpError(403, JsonRpcCode.ServerError, `Origin ${origin} may not use this MCP server`));
  };
}
