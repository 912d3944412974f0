import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Request, RequestHandler, Response } from 'express';
import type { AccessTokenFacts, MaybePromise, ModelStore } from '../storage/store.js';

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

/** The one question the bearer check asks of storage (ModelStore.findAccessToken). */
export type AccessTokenLookup = Pick<ModelStore, 'findAccessToken'>;

const MAX_TOKEN_LENGTH = 512;

/**
 * The bearer guard: 401 with `WWW-Authenticate: Bearer error="invalid_token", …
 * resource_metadata="…"` for an unknown, expired or revoked token, or one issued for another
 * resource (RFC 6750, as the SDK's requireBearerAuth answers). A request with no credentials at all
 * gets the challenge without an error code (RFC 6750 §3.1), which is all a client needs to start
 * discovery.
 *
 * Tokens are looked up in the authorization server's own store, in process: no HTTP round trip to
 * introspection, no cache, so a revoked or replaced token stops working on the next request. The
 * lookup is the store's one statement for it (SQLite answers synchronously, so a request that
 * passes goes on without a promise in between); what oidc-provider's AccessToken.find would add
 * (model instances, its checks for JWT or DPoP-bound or session-bound tokens, none of which this
 * server issues: provider.ts) is not on this path.
 *
 * `audiences` are the resources whose tokens are accepted: /mcp and /sse (with its /messages) are
 * two doors of one server, with the same tools and scopes, so a token issued for either works at
 * both, and a token for anything else is refused (RFC 8707 audience restriction; the MCP
 * authorization spec's "MUST validate that access tokens were issued specifically for them"). A
 * client that sends no `resource` gets a token for /mcp and can still use /sse. Each door keeps its
 * own metadata document (clients compare its `resource` with their URL), and `resourceMetadataUrl`
 * is the one its 401 points at.
 */
export function bearerGuard(tokens: AccessTokenLookup, options: { audiences: readonly string[]; resourceMetadataUrl: string }): RequestHandler {
  const challenge = `Bearer resource_metadata="${options.resourceMetadataUrl}"`;
  // One URL per accepted audience, made once.
  const resources = new Map(options.audiences.map((audience) => [audience, new URL(audience)]));
  const refuse = (res: Response, error: InvalidTokenError) => {
    res.status(401)
      .set('WWW-Authenticate', `Bearer error="${error.errorCode}", error_description="${error.message}", resource_metadata="${options.resourceMetadataUrl}"`)
      .json(error.toResponseObject());
  };

  /** The caller a token's facts name, or why the token is refused. */
  const authOf = (facts: AccessTokenFacts | undefined): AuthInfo | InvalidTokenError => {
    if (!facts || !facts.accountId) return new InvalidTokenError('Token is unknown, expired or revoked');
    const resource = typeof facts.aud === 'string' ? resources.get(facts.aud) : undefined;
    if (!resource) return new InvalidTokenError('Token was not issued for this resource');
    if (typeof facts.exp !== 'number' || Number.isNaN(facts.exp) || facts.exp < Date.now() / 1000) return new InvalidTokenError('Token has expired');
    // The token itself is withheld from everything behind the guard (withholdToken).
    return { token: '', clientId: facts.clientId ?? '', scopes: facts.scope ? facts.scope.split(' ') : [], expiresAt: facts.exp, resource, extra: { subject: facts.accountId } };
  };

  return (req, res, next) => {
    const header = req.headers.authorization;
    if (header === undefined) {
      res.status(401).set('WWW-Authenticate', challenge).json({ error: 'invalid_token', error_description: 'This endpoint needs an access token (Authorization: Bearer …)' });
      return;
    }
    const [type, token] = header.split(' ');
    if (type!.toLowerCase() !== 'bearer' || !token) {
      refuse(res, new InvalidTokenError("Invalid Authorization header format, expected 'Bearer TOKEN'"));
      return;
    }
    // Opaque tokens are 43 url-safe characters; anything else cannot be one of ours.
    if (token.length > MAX_TOKEN_LENGTH) {
      refuse(res, new InvalidTokenError('Token is not recognised'));
      return;
    }
    const decide = (facts: AccessTokenFacts | undefined) => {
      const auth = authOf(facts);
      if (auth instanceof InvalidTokenError) {
        refuse(res, auth);
        return;
      }
      req.auth = auth;
      withholdToken(req);
      next();
    };
    // A store locked past STORAGE_BUSY_TIMEOUT (StorageBusyError) is a 503 with Retry-After in
    // JSON-RPC, from the error handler, where the SDK's own guard would have answered 500.
    let found: MaybePromise<AccessTokenFacts | undefined>;
    try {
      found = tokens.findAccessToken(token);
    } catch (error) {
      next(error);
      return;
    }
    if (found instanceof Promise) found.then(decide, next);
    else decide(found);
  };
}

/**
 * Once the token is checked, nothing behind the guard gets it: tools are handed `authInfo` and the
 * request's headers, and a tool that had the token could pass it on to another API (token
 * passthrough, which the MCP spec forbids). Who is calling stays in `req.auth`.
 */
function withholdToken(req: Request): void {
  delete req.headers.authorization;
  const raw = req.rawHeaders;
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') continue;
    kept.push(name, raw[i + 1]!);
  }
  req.rawHeaders = kept;
}
