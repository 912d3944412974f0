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
 * RFC 6749 token requests are form-encoded, and oidc-provider reads only that; some MCP clients send
 * JSON to /token, /revoke and /introspect (clients.md R10). Those are rewritten as the same form;
 * form bodies pass straight through, unread.
 */
export function acceptJsonBodies(provider: ProviderCallback, maxBytes: number): RequestHandler[] {
  return [
    (req, _res, next) => next(req.is('application/json') ? undefined : 'route'),
    ...rewriteBodyFor(provider, {
      maxBytes,
      rewrite: (raw) => ({ body: Buffer.from(jsonToForm(raw)), contentType: 'application/x-www-form-urlencoded' }),
    }),
  ];
}
