import type { Configuration } from 'openid-client';
import type { OidcSettings } from '../../config.js';
import { UpstreamError } from '../../errors.js';
import { isLoopbackUrl } from '../../loopback.js';
import { UPSTREAM_TIMEOUT_MS } from './upstream-fetch.js';

// Loaded on the first OIDC sign-in (or discovery), not at start-up: most servers configure no OIDC
// provider, and openid-client with its dependencies is a noticeable part of starting.
let openidClient: Promise<typeof import('openid-client')> | undefined;
const loadClient = () => (openidClient ??= import('openid-client'));

/** Claims that describe the token rather than the person: left out of the stored profile. */
const TOKEN_CLAIMS = new Set(['iat', 'exp', 'nbf', 'nonce', 'at_hash', 'c_hash', 's_hash', 'aud', 'azp', 'auth_time', 'jti', 'sid']);

export interface OidcSignIn {
  issuer: string;
  sub: string;
  /** ID token claims merged with userinfo's (userinfo wins), minus TOKEN_CLAIMS. */
  claims: Record<string, unknown>;
  /** access_token, refresh_token, id_token, expires_at: kept encrypted. */
  tokens: Record<string, string | number>;
}

/**
 * A generic OpenID Connect provider, through openid-client: discovery, PKCE (S256), nonce, ID token
 * validation (signature, iss, aud, exp, nonce), userinfo. Plain-http requests are allowed only when
 * the issuer is on loopback (the same rule config.ts applies to it).
 */
export class OidcUpstream {
  readonly name: string;
  #configuration: Promise<Configuration> | undefined;
  #authorizeOrigin: string | undefined;

  constructor(private readonly settings: OidcSettings, private readonly callbackUrl: string) {
    this.name = settings.name;
  }

  get allowlist(): Pick<OidcSettings, 'allowedEmailDomains' | 'requiredClaim' | 'name'> {
    return this.settings;
  }

  /** The authorization endpoint's origin once discovered; the issuer's until then (usually the same). */
  get authorizeOrigin(): string {
    return this.#authorizeOrigin ?? new URL(this.settings.issuer).origin;
  }

  async authorizeUrl(state: string, nonce: string, codeChallenge: string): Promise<string> {
    const [client, configuration] = await Promise.all([loadClient(), this.configuration()]);
    return client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.callbackUrl,
      scope: this.settings.scopes,
      state,
      nonce,
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
    }).href;
  }

  /** Exchanges the code at `callbackUrl` (the full URL the browser came back to) and reads who signed in. */
  async complete(callbackUrl: URL, checks: { state: string; nonce: string; codeVerifier: string }): Promise<OidcSignIn> {
    const [client, configuration] = await Promise.all([loadClient(), this.configuration()]);
    try {
      const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
      const idClaims = tokens.claims();
      if (!idClaims) throw new UpstreamError(this.name, 'the provider returned no ID token');
      let userinfo: Record<string, unknown> = {};
      if (configuration.serverMetadata().userinfo_endpoint) {
        userinfo = await client.fetchUserInfo(configuration, tokens.access_token, idClaims.sub);
      }
      const claims = Object.fromEntries(Object.entries({ ...idClaims, ...userinfo }).filter(([key]) => !TOKEN_CLAIMS.has(key)));
      const kept: Record<string, string | number> = { access_token: tokens.access_token };
      if (tokens.refresh_token) kept.refresh_token = tokens.refresh_token;
      if (tokens.id_token) kept.id_token = tokens.id_token;
      const expiresIn = tokens.expiresIn();
      if (expiresIn !== undefined) kept.expires_at = Date.now() + expiresIn * 1000;
      return { issuer: configuration.serverMetadata().issuer, sub: idClaims.sub, claims, tokens: kept };
    } catch (error) {
      throw this.problem(error, 'the sign-in could not be completed');
    }
  }

  /** Discovery ahead of the first sign-in, so the login page's CSP names the real authorization endpoint; a failure is retried then. */
  async discoverEarly(): Promise<void> {
    await this.configuration();
  }

  /** Discovery once, retried on the next sign-in if it failed (the provider was down at start-up). */
  private configuration(): Promise<Configuration> {
    this.#configuration ??= this.discover().catch((error: unknown) => {
      this.#configuration = undefined;
      throw error;
    });
    return this.#configuration;
  }

  private async discover(): Promise<Configuration> {
    const issuer = new URL(this.settings.issuer);
    const client = await loadClient();
    try {
      const configuration = await client.discovery(issuer, this.settings.clientId, this.settings.clientSecret, undefined, {
        execute: isLoopbackUrl(issuer) && issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [],
        timeout: UPSTREAM_TIMEOUT_MS / 1000,
      });
      // OIDC Core 3.1.3.7 lets a client skip the signature check of an ID token received straight
      // from the token endpoint over TLS, and openid-client skips it by default; checked against
      // the provider's JWKS, a token the provider did not sign is refused.
      client.enableNonRepudiationChecks(configuration);
      const endpoint = configuration.serverMetadata().authorization_endpoint;
      if (!endpoint) throw new UpstreamError(this.name, 'its discovery document names no authorization_endpoint');
      this.#authorizeOrigin = new URL(endpoint).origin;
      return configuration;
    } catch (error) {
      throw this.problem(error, 'its discovery document could not be read');
    }
  }

  /** A one-line reason for the page and the log; the cause (never holding a token) stays attached. */
  private problem(error: unknown, what: string): UpstreamError {
    if (error instanceof UpstreamError) return error;
    const name = (error as { name?: string } | null)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') return new UpstreamError(this.name, `${what}: the provider did not answer within ${UPSTREAM_TIMEOUT_MS / 1000} s`, { cause: error });
    // openid-client's own message is generic ("unexpected JWT claim value encountered"); the
    // check that failed (nonce, iss, aud, exp, the signature) is named by its cause, which never holds the token.
    const cause = (error as { cause?: unknown } | null)?.cause;
    if (cause instanceof Error && /\b(JWT|ID Token)\b/.test(cause.message)) {
      return new UpstreamError(this.name, `its ID token was refused (${cause.message})`.slice(0, 300), { cause: error });
    }
    const code = (error as { error?: unknown } | null)?.error;
    const detail = typeof code === 'string' ? `the provider answered ${code}` : error instanceof Error ? error.message : String(error);
    return new UpstreamError(this.name, `${what}: ${detail}`.slice(0, 300), { cause: error });
  }
}
