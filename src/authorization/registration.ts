import type { RequestHandler } from 'express';
import { OAuthHttpError } from '../errors.js';
import { rewriteBodyFor, type ProviderCallback } from '../http/replay-body.js';
import { isLoopbackHostname } from '../loopback.js';

/** Client metadata oidc-provider would fetch from the network. */
const FETCHED_URLS = ['sector_identifier_uri', 'jwks_uri', 'request_uris'];

const isLoopbackHttp = (url: URL) => url.protocol === 'http:' && isLoopbackHostname(url.hostname);

/**
 * Makes the registration bodies real MCP clients send acceptable to oidc-provider, and refuses what
 * it would let through but we do not want: `normalizeClientMetadata`, then `clientMetadataRefusal`,
 * the same steps client metadata documents go through. Bodies that are not a JSON object pass
 * through untouched for oidc-provider to refuse.
 */
export function normalizeRegistration(body: unknown, knownScopes: readonly string[]): Record<string, unknown> | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const metadata = normalizeClientMetadata(body as Record<string, unknown>, knownScopes);
  const refusal = clientMetadataRefusal(metadata);
  if (refusal) throw new OAuthHttpError(400, refusal.error, refusal.description);
  return metadata;
}

/**
 * What this server refuses in any client's metadata, registered or published as a document:
 * - `http:` redirect URIs that are not loopback (everything else needs TLS);
 * - metadata that would make this server fetch a URL the client chose (`sector_identifier_uri`,
 *   `jwks_uri`, `request_uris`): registration is open to anyone, and nothing here needs them.
 * The error code is RFC 7591's; oidc-provider names it the same way when it refuses a redirect URI.
 */
export function clientMetadataRefusal(metadata: Record<string, unknown>): { error: 'invalid_redirect_uri' | 'invalid_client_metadata'; description: string } | undefined {
  for (const field of FETCHED_URLS) {
    if (metadata[field] !== undefined) return { error: 'invalid_client_metadata', description: `${field} is not supported by this server` };
  }
  for (const [index, url] of redirectUrls(metadata).entries()) {
    if (url?.protocol === 'http:' && !isLoopbackHostname(url.hostname)) {
      return { error: 'invalid_redirect_uri', description: `redirect_uris[${index}] uses http but is not loopback; use https, or http://127.0.0.1 / http://localhost for apps on this machine` };
    }
  }
  return undefined;
}

/**
 * The rewrites every client's metadata, registered or published as a document, gets before
 * oidc-provider reads it:
 * - empty or null fields are dropped, as if absent (Gemini CLI sends `"scope": ""`; a document
 *   with `"logo_uri": ""` or `"grant_types": null` means no logo, the default grants);
 * - a client with a loopback redirect URI and no `application_type` is `native`, so its redirect
 *   matches on any port (RFC 8252 §7.3): these clients pick a new port each run;
 * - no `grant_types` means authorization code plus refresh token, so the client can stay signed in;
 * - a `scope` keeps only scopes this server knows (clients copy lists like "openid email profile"
 *   from elsewhere: mcp-remote#204) and always allows `openid` and `offline_access`, which grant
 *   nothing on /mcp; oidc-provider treats it as a ceiling on requests.
 */
export function normalizeClientMetadata(input: Record<string, unknown>, knownScopes: readonly string[]): Record<string, unknown> {
  const metadata = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== '' && value !== null));
  if (metadata.application_type === undefined && redirectUrls(metadata).some((url) => url && isLoopbackHttp(url))) {
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

function redirectUrls(metadata: Record<string, unknown>): (URL | null)[] {
  const uris = Array.isArray(metadata.redirect_uris) ? (metadata.redirect_uris as unknown[]) : [];
  return uris.map((uri) => (typeof uri === 'string' ? URL.parse(uri) : null));
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
