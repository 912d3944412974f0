import assert from 'node:assert/strict';
import type { RawResponse } from './raw-oauth.js';

/** An OAuth error answer (RFC 6749 §5.2): this status, JSON `{ error, error_description }`, never cached. */
export function assertOAuthError(answer: RawResponse, status: number, error: string, label = ''): void {
  assert.equal(answer.status, status, `${label} expected ${status} ${error}, got ${answer.status}: ${answer.text.slice(0, 300)}`);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/json/, label);
  assert.equal(answer.json?.error, error, `${label} ${answer.text.slice(0, 300)}`);
  assert.equal(typeof answer.json?.error_description, 'string', label);
  assert.equal(answer.json?.access_token, undefined, `${label} no token`);
  assert.match(answer.headers.get('cache-control') ?? '', /no-store/, `${label} Cache-Control`);
}

/** 429 past a limit: `temporarily_unavailable` (nothing a client would drop its registration or tokens over) and a Retry-After in seconds. */
export function assertTooManyRequests(answer: RawResponse, label = ''): number {
  assertOAuthError(answer, 429, 'temporarily_unavailable', label);
  const retryAfter = Number(answer.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter > 0, `${label} Retry-After: ${answer.headers.get('retry-after')}`);
  return retryAfter;
}
