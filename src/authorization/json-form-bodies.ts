import type { RequestHandler } from 'express';
import { OAuthHttpError } from '../errors.js';
import { rewriteBodyFor, type ProviderCallback } from '../http/replay-body.js';

/** A JSON object of plain values as the same parameters, form-encoded; anything else is a bad request. */
function jsonToForm(raw: Buffer): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new OAuthHttpError(400, 'invalid_request', 'the body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new OAuthHttpError(400, 'invalid_request', 'the JSON body must be an object of parameters');
  }
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(parsed)) {
    if (!['string', 'number', 'boolean'].includes(typeof value)) {
      throw new OAuthHttpError(400, 'invalid_request', `parameter ${key} must be a string`);
    }
    form.set(key, String(value));
  }
  return form.toString();
}

/**
 * Bodies at /token, /revoke and /introspect: read here, at most `maxBytes` (past it 413, like every
 * other endpoint, rather than oidc-provider's 400 past its own 56 KiB), then handed to oidc-provider.
 * RFC 6749 requests are form-encoded, and oidc-provider reads only that; some MCP clients send JSON
 * (clients.md R10), which is rewritten as the same form. Form bodies pass unchanged.
 */
export function tokenEndpointBodies(provider: ProviderCallback, maxBytes: number): RequestHandler[] {
  return rewriteBodyFor(provider, {
    maxBytes,
    rewrite: (raw, req) => (req.is('application/json') ? { body: Buffer.from(jsonToForm(raw)), contentType: 'application/x-www-form-urlencoded' } : { body: raw }),
  });
}
