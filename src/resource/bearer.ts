import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Request, RequestHandler, Response } from 'express';
import type { Provider } from 'oidc-provider';
import { TryLater } from '../authorization/try-later.js';
import { StorageBusyError } from '../errors.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by the bearer guard: the checked token's client, scopes, audience and account (never the token itself). */
    auth?: AuthInfo;
  }
}

/** Who is calling: the signed-in account (AuthInfo.extra.subject) through which client. */
export interface Caller {
  subject: string;
  clientId: string;
}

/** The caller of a request that passed the bearer guard. */
export function callerOf(req: { auth?: AuthInfo }): Caller {
  const subject = req.auth?.extra?.subject;
  if (typeof subject !== 'string') throw new Error('the bearer guard must run before this handler');
  return { subject, clientId: req.auth!.clientId };
}

/**
 * Looks tokens up in the authorization server's own store, in process: no HTTP round trip to
 * introspection, and a revoked or replaced token stops working on the next request. Only tokens
 * whose audience is one of `audiences` are accepted.
 */
export function providerTokenVerifier(provider: Provider, audiences: readonly string[]): OAuthTokenVerifier {
  return {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      // Opaque tokens are 43 url-safe characters; anything else cannot be one of ours.
      if (token.length > 512) throw new InvalidTokenError('Token is not recognised');
      const accessToken = await provider.AccessToken.find(token);
      if (!accessToken || !accessToken.accountId) throw new InvalidTokenError('Token is unknown, expired or revoked');
      const audience = (accessToken as { aud?: unknown }).aud;
      if (typeof audience !== 'string' || !audiences.includes(audience)) throw new InvalidTokenError('Token was not issued for this resource');
      return {
        token,
        clientId: accessToken.clientId ?? '',
        scopes: accessToken.scope ? accessToken.scope.split(' ') : [],
        expiresAt: accessToken.exp,
        resource: new URL(audience),
        extra: { subject: accessToken.accountId },
      };
    },
  };
}

/**
 * The SDK's bearer guard: 401 with `WWW-Authenticate: Bearer error="invalid_token", …
 * resource_metadata="…"` for an unknown, expired or revoked token, or one issued for another
 * resource. A request with no credentials at all gets the challenge without an error code
 * (RFC 6750 §3.1), which is all a client needs to start discovery.
 *
 * `audiences` are the resources whose tokens are accepted: /mcp and /sse (with its /messages) are
 * two doors of one server, with the same tools and scopes, so a token issued for either works at
 * both, and a token for anything else is refused (RFC 8707 audience restriction; the MCP
 * authorization spec's "MUST validate that access tokens were issued specifically for them"). A
 * client that sends no `resource` gets a token for /mcp and can still use /sse. Each door keeps its
 * own metadata document (clients compare its `resource` with their URL), and `resourceMetadataUrl`
 * is the one its 401 points at.
 */
export function bearerGuard(provider: Provider, options: { audiences: readonly string[]; resourceMetadataUrl: string }): RequestHandler {
  const verifier = providerTokenVerifier(provider, options.audiences);
  const challenge = `Bearer resource_metadata="${options.resourceMetadataUrl}"`;
  const refuse = (res: Response, error: InvalidTokenError) => {
    res.status(401)
      .set('WWW-Authenticate', `Bearer error="${error.errorCode}", error_description="${error.message}", resource_metadata="${options.resourceMetadataUrl}"`)
      .json(error.toResponseObject());
  };
  return async (req, res, next) => {
    const header = req.headers.authorization;
    if (header === undefined) {
      res.status(401).set('WWW-Authenticate', challenge).json({ error: 'invalid_token', error_description: 'This endpoint needs an access token (Authorization: Bearer …)' });
      return;
    }
    let auth: AuthInfo;
    try {
      const [type, token] = header.split(' ');
      if (type!.toLowerCase() !== 'bearer' || !token) throw new InvalidTokenError("Invalid Authorization header format, expected 'Bearer TOKEN'");
      auth = await verifier.verifyAccessToken(token);
      if (typeof auth.expiresAt !== 'number' || Number.isNaN(auth.expiresAt) || auth.expiresAt < Date.now() / 1000) throw new InvalidTokenError('Token has expired');
    } catch (error) {
      if (error instanceof InvalidTokenError) {
        refuse(res, error);
        return;
      }
      // A store locked past STORAGE_BUSY_TIMEOUT (the adapter's TryLater) is a 503 with Retry-After in
      // JSON-RPC, from the error handler, where the SDK's own guard would have answered 500.
      const busy = error instanceof TryLater && error.cause instanceof StorageBusyError ? error.cause : error;
      next(busy);
      return;
    }
    req.auth = auth;
    withholdToken(req);
    next();
  };
}

/**
 * Once the token is checked, nothing behind the guard gets it: tools are handed `authInfo` and the
 * request's headers (the SDK builds those from `rawHeaders`), and a tool that had the token could
 * pass it on to another API (token passthrough, which the MCP spec forbids). Who is calling stays in
 * `req.auth`.
 */
function withholdToken(req: Request): void {
  if (req.auth) req.auth = { ...req.auth, token: '' };
  delete req.headers.authorization;
  const raw = req.rawHeaders;
  req.rawHeaders = raw.filter((_value, index) => raw[index - (index % 2)]!.toLowerCase() !== 'authorization');
}
