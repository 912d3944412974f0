import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { UpstreamProvider, UpstreamState, UpstreamStateStore } from '../../storage/store.js';

/** How long a person has at the upstream (signing in, approving the app) before coming back. */
export const STATE_TTL_MS = 10 * 60_000;

export interface StartedSignIn {
  state: string;
  nonce: string;
  codeChallenge: string;
}

export type Checked =
  | { ok: true; state: UpstreamState; binding: string }
  | { ok: false; status: 400 | 403; reason: 'missing' | 'unknown' | 'expired' | 'used' | 'wrong_provider' | 'no_binding' | 'binding_mismatch' };

/**
 * Sign-ins one browser may have in flight at once (a second tab, a second click): each has its own
 * value in the one binding cookie, the oldest giving way, so the cookie stays small.
 */
export const MAX_BINDINGS = 5;

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');
const random = () => randomBytes(32).toString('base64url');
const BINDING = /^[A-Za-z0-9_-]{43}$/;

/**
 * The upstream `state`: 256 random bits, stored only as a hash with the interaction it belongs to,
 * the PKCE verifier and the nonce; single-use; expiring after 10 minutes; and bound to the browser
 * that clicked the button by a cookie value whose hash is stored with it, so a callback URL carried
 * to another browser (or planted in a victim's) is refused. The cookie holds one value per sign-in
 * in flight: a sign-in started in a second tab does not make the first tab's callback a 403.
 */
export class UpstreamStates {
  readonly cookieName: string;

  constructor(private readonly store: UpstreamStateStore, private readonly secureCookies: boolean) {
    this.cookieName = secureCookies ? '__Host-upstream_binding' : 'upstream_binding';
  }

  /** A new state for `interactionUid`, its binding added to the browser's cookie (from `req`) on `res`. */
  async start(req: Request, res: Response, provider: UpstreamProvider, interactionUid: string, now = Date.now()): Promise<StartedSignIn> {
    const state = random();
    const binding = random();
    const nonce = random();
    const codeVerifier = random();
    await this.store.save({
      stateHash: sha256(state),
      bindingHash: sha256(binding),
      interactionUid,
      provider,
      codeVerifier,
      nonce,
      expiresAt: now + STATE_TTL_MS,
    });
    this.setBindings(res, [...bindingsOf(req, this.cookieName).slice(-(MAX_BINDINGS - 1)), binding]);
    // RFC 7636 S256: BASE64URL(SHA256(verifier)); the verifier is 43 base64url characters, as the RFC recommends.
    return { state, nonce, codeChallenge: sha256(codeVerifier) };
  }

  /**
   * The stored state for the callback, checked: known, for this provider, unexpired, unused, and
   * arriving in the browser that started it (one of its cookie's values); then consumed. A refusal
   * for the binding leaves the state unused: a stranger's request must not spend the real browser's sign-in.
   */
  async consume(req: Request, provider: UpstreamProvider, now = Date.now()): Promise<Checked> {
    const state = typeof req.query.state === 'string' ? req.query.state : '';
    if (state === '' || state.length > 512) return { ok: false, status: 400, reason: 'missing' };
    const stored = await this.store.find(sha256(state));
    if (!stored) return { ok: false, status: 400, reason: 'unknown' };
    if (stored.provider !== provider) return { ok: false, status: 400, reason: 'wrong_provider' };
    if (stored.consumedAt !== undefined) return { ok: false, status: 400, reason: 'used' };
    if (stored.expiresAt <= now) return { ok: false, status: 400, reason: 'expired' };
    const bindings = bindingsOf(req, this.cookieName);
    if (bindings.length === 0) return { ok: false, status: 403, reason: 'no_binding' };
    const expected = Buffer.from(stored.bindingHash);
    const binding = bindings.find((candidate) => {
      const given = Buffer.from(sha256(candidate));
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
    if (binding === undefined) return { ok: false, status: 403, reason: 'binding_mismatch' };
    if (!(await this.store.consume(stored.stateHash, now))) return { ok: false, status: 400, reason: 'used' };
    return { ok: true, state: stored, binding };
  }

  /** A consumed state's binding has done its work: the cookie keeps only the other sign-ins in flight. */
  release(req: Request, res: Response, binding: string): void {
    const rest = bindingsOf(req, this.cookieName).filter((value) => value !== binding);
    if (rest.length > 0) this.setBindings(res, rest);
    else res.clearCookie(this.cookieName, { httpOnly: true, sameSite: 'lax', secure: this.secureCookies, path: '/' });
  }

  private setBindings(res: Response, bindings: string[]): void {
    res.cookie(this.cookieName, bindings.join('.'), {
      httpOnly: true,
      sameSite: 'lax',
      secure: this.secureCookies,
      path: '/',
      maxAge: STATE_TTL_MS,
    });
  }
}

/** The binding values in the browser's cookie ('.'-separated base64url; no cookie-parser in this app); anything else in it is ignored. */
function bindingsOf(req: Request, name: string): string[] {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().split('.').filter((value) => BINDING.test(value));
  }
  return [];
}
