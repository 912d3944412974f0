import { randomUUID } from 'node:crypto';
import type { Store, UpstreamIdentity, UpstreamProvider, User } from '../../storage/store.js';
import type { GitHubTokens, GitHubUser } from './github.js';
import type { OidcSignIn } from './oidc.js';
import type { TokenCipher } from './token-cipher.js';

/**
 * Upstream identities ↔ our users. A user is found by the provider's own subject (GitHub's numeric
 * id, OIDC's issuer + sub), never by name: a renamed GitHub login is the same user with a new
 * username. Tokens are encrypted before they reach storage, bound to the identity they belong to.
 */
export class UpstreamIdentities {
  constructor(private readonly store: Pick<Store, 'upstreamIdentities'>, private readonly cipher: TokenCipher) {}

  signInWithGitHub(user: GitHubUser, tokens: GitHubTokens): Promise<{ user: User; created: boolean }> {
    const subject = String(user.id);
    return this.store.upstreamIdentities.signIn({
      provider: 'github',
      subject,
      username: `github:${user.login.toLowerCase()}`,
      displayName: user.name?.trim() || user.login,
      encryptedTokens: this.cipher.encrypt(JSON.stringify(tokens), bindingOf('github', subject)),
      profile: { ...user },
      newUserId: randomUUID(),
    });
  }

  signInWithOidc(signIn: OidcSignIn): Promise<{ user: User; created: boolean }> {
    const subject = oidcSubject(signIn.issuer, signIn.sub);
    const { claims } = signIn;
    const email = typeof claims.email === 'string' && claims.email_verified === true && PLAIN_EMAIL.test(claims.email) ? claims.email.toLowerCase() : undefined;
    const text = (key: string) => (typeof claims[key] === 'string' && (claims[key] as string).trim() !== '' ? (claims[key] as string).trim() : undefined);
    return this.store.upstreamIdentities.signIn({
      provider: 'oidc',
      subject,
      username: email ?? `oidc:${signIn.sub}`,
      displayName: text('name') ?? text('preferred_username') ?? email ?? signIn.sub,
      encryptedTokens: this.cipher.encrypt(JSON.stringify(signIn.tokens), bindingOf('oidc', subject)),
      profile: { issuer: signIn.issuer, subject: signIn.sub, claims },
      newUserId: randomUUID(),
    });
  }

  /** The user's upstream identity; undefined for a local user. */
  of(userId: string): Promise<UpstreamIdentity | undefined> {
    return this.store.upstreamIdentities.findByUser(userId);
  }

  /** Its tokens, decrypted; undefined when they cannot be (UPSTREAM_TOKEN_KEY or the key file changed). */
  tokensOf(identity: UpstreamIdentity): Record<string, unknown> | undefined {
    try {
      return JSON.parse(this.cipher.decrypt(identity.encryptedTokens, bindingOf(identity.provider, identity.subject))) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }
}

/**
 * An e-mail address usable as a username: no ':' (names with one are the providers' own,
 * "github:…", "oidc:…", which a provider's e-mail claim must not be able to take) and no spaces.
 */
const PLAIN_EMAIL = /^[^\s@:]+@[^\s@:]+$/;

/** An OIDC subject is unique only within its issuer. */
export function oidcSubject(issuer: string, sub: string): string {
  return `${issuer} ${sub}`;
}

function bindingOf(provider: UpstreamProvider, subject: string): string {
  return `${provider}:${subject}`;
}
