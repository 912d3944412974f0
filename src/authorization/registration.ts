import type { RequestHandler } from 'express';
import { OAuthHttpError } from '../errors.js';
import { rewriteBodyFor, type ProviderCallback } from '../http/replay-body.js';
import { isLoopbackHostname } from '../loopback.js';

/** Client metadata oidc-provider would fetch from the network. */
const FETCHED_URLS = ['sector_identifier_uri', 'jwks_uri', 'request_uris'];

const isLoopbackHttp = (url: URL) => url.protocol === 'http:' && isLoopbackHostname(url.hostname);

/**
 * Makes the registration bodies real MCP clients send acceptable to oidc-provider, and refuses what
 * it would let through but we do not want:
 * - empty or null optional fields are dropped (Gemini CLI sends `"scope": ""`);
 * - a client with a loopback redirect URI and no `application_type` is `native`, so its redirect
 *   matches on any port (RFC 8252 §7.3): these clients pick a new port each run;
 * - no `grant_types` means authorization code plus refresh token, so the client can stay signed in;
 * - a registered `scope` keeps only scopes this server knows (clients copy lists like
 *   "openid email profile" from elsewhere: mcp-remote#204) and always allows `openid` and
 *   `offline_access`, which grant nothing on /mcp; oidc-provider treats it as a ceiling on requests;
 * - `http:` redirect URIs must be loopback (everything else needs TLS);
 * - no metadata that would make this server fetch a URL the registrant chose
 *   (`sector_identifier_uri`, `jwks_uri`, `request_uris`): registration is open to anyone, and
 *   those fetches would let anyone probe addresses only this server can reach.
 * Bodies that are not a JSON object pass through untouched for oidc-provider to refuse.
 */
export function normalizeRegistration(body: unknown, knownScopes: readonly string[]): Record<string, unknown> | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const metadata = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== '' && value !== null));
  for (const field of FETCHED_URLS) {
    if (field in metadata) throw new OAuthHttpError(400, 'invalid_client_metadata', `${field} is not supported by this server`);
  }
  const uris = Array.isArray(metadata.redirect_uris) ? metadata.redirect_uris : [];
  const parsed = uris.map((uri) => (typeof uri === 'string' ? URL.parse(uri) : null));
  for (const [index, url] of parsed.entries()) {
    if (url?.protocol === 'http:' && !isLoopbackHostname(url.hostname)) {
      throw new OAuthHttpError(400, 'invalid_redirect_uri', `redirect_uris[${index}] uses http but is not loopback; use https, or http://127.0.0.1 / http://localhost for apps on this machine`);
    }
  }
  if (metadata.application_type === undefined && parsed.some((url) => url && isLoopbackHttp(url))) {
    metadata.application_type = 'native';
  }
  if (metadata.grant_types === undefined) {
    metadata.grant_types = ['authorization_code', 'refresh_token'];
  }
  if (typeof metadata.scope === 'string') {
    const asked = metadata.scope.split(' ').filter((scope) => knownScopes.includes(scope));
    if (asked.length === 0) delete metadata.scope;
    else metadata.scope = [...new Set(['openid', 'offline_access', ...asked])].join(' ');
  }
  return metadata;
}

/** POST /register and PUT /register/:id: the body normalized, then oidc-provider. */
export function registrationEndpoint(provider: ProviderCallback, options: { maxBytes: number; knownScopes: readonly string[] }): RequestHandler[] {
  return rewriteBodyFor(provider, {
    maxBytes: options.maxBytes,
    rewrite: (raw, req) => {
      const normalized = req.is('application/json') ? normalizeRegistration(parseJson(raw), options.knownScopes) : undefined;
      return { body: normalized ? Buffer.from(JSON.stringify(normalized)) : raw };
    },
  });
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}
