import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
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
 * introspection; what storage found is remembered for at most ACCESS_TOKEN_RECHECK_MS and forgotten
 * on any write through this process (storage/access-token-cache.ts), so a token revoked or replaced
 * here stops working on the next request. The
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

  /**
   * The caller each token's facts name, made once per facts object: the access-token cache hands
   * back the same object for as long as it remembers a token, so a request costs a lookup here
   * instead of a new AuthInfo, scope list and subject (what a fixed caller costs). Frozen, as it is
   * shared by every request made with that token, so no handler can change its client, scopes or
   * subject for the next one (its `resource` URL, shared by every token for that audience, is the
   * one guard's own and cannot be frozen).
   */
  const callers = new WeakMap<AccessTokenFacts, AuthInfo>();
  /** The caller a token's facts name, or why the token is refused. */
  const authOf = (facts: AccessTokenFacts | undefined): AuthInfo | InvalidTokenError => {
    if (!facts || !facts.accountId) return new InvalidTokenError('Token is unknown, expired or revoked');
    const resource = typeof facts.aud === 'string' ? resources.get(facts.aud) : undefined;
    if (!resource) return new InvalidTokenError('Token was not issued for this resource');
    // Checked on every request, also for a remembered caller: expiry is a matter of the clock.
    if (typeof facts.exp !== 'number' || Number.isNaN(facts.exp) || facts.exp < Date.now() / 1000) return new InvalidTokenError('Token has expired');
    let auth = callers.get(facts);
    if (auth === undefined) {
      // The token itself is withheld from everything behind the guard (withholdToken).
      auth = Object.freeze({
        token: '',
        clientId: facts.clientId ?? '',
        scopes: Object.freeze(facts.scope ? facts.scope.split(' ') : []) as string[],
        expiresAt: facts.exp,
        resource,
        extra: Object.freeze({ subject: facts.accountId }),
      });
      callers.set(facts, auth);
    }
    return auth;
  };
  /** What follows the lookup; a function of its own so that the usual (synchronous) path makes no closure per request. */
  const decide = (req: Request, res: Response, next: NextFunction, facts: AccessTokenFacts | undefined) => {
    const auth = authOf(facts);
    if (auth instanceof InvalidTokenError) {
      refuse(res, auth);
      return;
    }
    // Before `req.auth` is added: in CPU profiles of the bench server, reading `req.headers` right
    // after that store took about eight times the samples it takes before it.
    withholdToken(req);
    req.auth = auth;
    next();
  };

  return (req, res, next) => {
    const header = req.headers.authorization;
    if (header === undefined) {
      res.status(401).set('WWW-Authenticate', challenge).json({ error: 'invalid_token', error_description: 'This endpoint needs an access token (Authorization: Bearer …)' });
      return;
    }
    // The scheme, then the token up to the next space (anything after it is ignored), read without
    // split()'s array and the destructuring's iterator: this runs on every MCP request.
    const space = header.indexOf(' ');
    const type = space === -1 ? header : header.slice(0, space);
    const end = space === -1 ? -1 : header.indexOf(' ', space + 1);
    const token = space === -1 ? '' : header.slice(space + 1, end === -1 ? undefined : end);
    if (type.toLowerCase() !== 'bearer' || !token) {
      refuse(res, new InvalidTokenError("Invalid Authorization header format, expected 'Bearer TOKEN'"));
      return;
    }
    // Opaque tokens are 43 url-safe characters; anything else cannot be one of ours.
    if (token.length > MAX_TOKEN_LENGTH) {
      refuse(res, new InvalidTokenError('Token is not recognised'));
      return;
    }
    // A store locked past STORAGE_BUSY_TIMEOUT (StorageBusyError) is a 503 with Retry-After in
    // JSON-RPC, from the error handler, where the SDK's own guard would have answered 500.
    let found: MaybePromise<AccessTokenFacts | undefined>;
    try {
      found = tokens.findAccessToken(token);
    } catch (error) {
      next(error);
      return;
    }
    if (found instanceof Promise) found.then((facts) => decide(req, res, next, facts), next);
    else decide(req, res, next, found);
  };
}

/**
 * Once the token is checked, nothing behind the guard gets it: tools are handed `authInfo` and the
 * request's headers, and a tool that had the token could pass it on to another API (token
 * passthrough, which the MCP spec forbids). Who is calling stays in `req.auth`.
 *
 * `req.headers` is replaced by a copy without `authorization` rather than the header deleted:
 * `delete` of a property that was not the last one added turns the headers object into a
 * dictionary, slower to read for everything after the guard, and the delete itself was about a
 * quarter of the check's samples in CPU profiles of the bench server. `rawHeaders` loses the
 * header's name and value in place (no new array stored on `req`).
 */
function withholdToken(req: Request): void {
  const headers = req.headers;
  const kept: IncomingHttpHeaders = {};
  for (const name in headers) if (name !== 'authorization') kept[name] = headers[name];
  req.headers = kept;
  // Overwritten in place, not cut out: Node reads `headersDistinct` from rawHeaders up to the
  // count it parsed, and a shorter array makes that getter throw.
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      raw[i] = WITHHELD_HEADER;
      raw[i + 1] = '';
    }
  }
}

/** What stands in rawHeaders where the Authorization header was (it names no credential). */
const WITHHELD_HEADER = 'X-Credentials-Withheld';
