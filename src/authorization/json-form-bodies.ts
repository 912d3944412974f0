import express, { type RequestHandler } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OAuthHttpError } from '../errors.js';
import { withBody } from '../http/replay-body.js';

type ProviderCallback = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * RFC 6749 token requests are form-encoded, and oidc-provider reads only that; some MCP clients send
 * JSON to /token, /revoke and /introspect (clients.md R10). A JSON object of plain values becomes
 * the same form; anything else is refused as a bad request. Form bodies pass straight through.
 */
export function acceptJsonBodies(provider: ProviderCallback, maxBytes: number): RequestHandler[] {
  const raw = express.raw({ type: 'application/json', limit: maxBytes, inflate: false });
  return [
    (req, res, next) => {
      if (req.method !== 'POST' || !req.is('application/json')) {
        next('route');
        return;
      }
      raw(req, res, next);
    },
    (req, res) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse((req.body as Buffer).toString('utf8'));
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
      provider(withBody(req, Buffer.from(form.toString()), 'application/x-www-form-urlencoded'), res);
    },
  ];
}
