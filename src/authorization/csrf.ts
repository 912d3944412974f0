import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * CSRF tokens for the login and consent forms, bound to one interaction: an HMAC of its uid under a
 * server key. The interaction itself is bound to the browser by oidc-provider's signed cookie, so a
 * page on another site can neither read a token nor reuse one from another sign-in.
 */
export class CsrfTokens {
  constructor(private readonly key: Buffer) {}

  issue(interactionUid: string): string {
    return createHmac('sha256', this.key).update(`csrf:${interactionUid}`).digest('base64url');
  }

  verify(interactionUid: string, token: unknown): boolean {
    if (typeof token !== 'string' || token.length === 0) return false;
    const expected = Buffer.from(this.issue(interactionUid));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
