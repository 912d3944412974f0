import type { GitHubSettings } from '../../config.js';
import { UpstreamError, UpstreamTokenRejectedError } from '../../errors.js';
import { isRecord, upstreamJson } from './upstream-fetch.js';

/** What GitHub's token endpoint gave: kept encrypted, used only server-side. */
export interface GitHubTokens {
  access_token: string;
  token_type?: string;
  scope?: string;
  refresh_token?: string;
  /** Epoch ms, for GitHub Apps with expiring tokens. */
  expires_at?: number;
}

/** The fields of GET /user this server uses (the documented "private user" shape). */
export interface GitHubUser {
  id: number;
  login: string;
  name: string | null;
  avatar_url: string;
  html_url: string;
  public_repos: number;
  followers: number;
  following: number;
  company: string | null;
  location: string | null;
  bio: string | null;
  created_at: string;
  email: string | null;
}

const USER_AGENT = 'uuid-mcp-server';

/**
 * GitHub's OAuth app flow (authorize, code exchange with PKCE) and the REST calls sign-in and
 * get_user_profile need. GitHub answers token-endpoint errors with HTTP 200 and an `error` field,
 * and REST errors with `{ message }`; both become typed errors here.
 */
export class GitHub {
  readonly name = 'GitHub';

  constructor(private readonly settings: GitHubSettings, private readonly callbackUrl: string) {}

  get authorizeOrigin(): string {
    return new URL(this.settings.baseUrl).origin;
  }

  get allowlist(): Pick<GitHubSettings, 'allowedUsers' | 'allowedOrgs'> {
    return this.settings;
  }

  /** read:user for the profile; read:org too when membership decides who may sign in. */
  get scope(): string {
    return this.settings.allowedOrgs.length > 0 ? 'read:user read:org' : 'read:user';
  }

  authorizeUrl(state: string, codeChallenge: string): string {
    const url = new URL(`${this.settings.baseUrl}/login/oauth/authorize`);
    url.search = new URLSearchParams({
      client_id: this.settings.clientId,
      redirect_uri: this.callbackUrl,
      scope: this.scope,
      state,
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
      allow_signup: 'true',
    }).toString();
    return url.href;
  }

  async exchangeCode(code: string, codeVerifier: string): Promise<GitHubTokens> {
    const { status, body } = await upstreamJson(this.name, `${this.settings.baseUrl}/login/oauth/access_token`, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', 'user-agent': USER_AGENT },
      body: new URLSearchParams({
        client_id: this.settings.clientId,
        client_secret: this.settings.clientSecret,
        code,
        redirect_uri: this.callbackUrl,
        code_verifier: codeVerifier,
      }),
    });
    if (isRecord(body) && typeof body.error === 'string') {
      const description = typeof body.error_description === 'string' ? `: ${body.error_description}` : '';
      throw new UpstreamError(this.name, `GitHub refused the sign-in code (${body.error}${description})`);
    }
    if (status !== 200 || !isRecord(body) || typeof body.access_token !== 'string' || body.access_token === '') {
      throw new UpstreamError(this.name, `GitHub's token endpoint answered HTTP ${status} without an access token`);
    }
    const tokens: GitHubTokens = { access_token: body.access_token };
    if (typeof body.token_type === 'string') tokens.token_type = body.token_type;
    if (typeof body.scope === 'string') tokens.scope = body.scope;
    if (typeof body.refresh_token === 'string') tokens.refresh_token = body.refresh_token;
    if (typeof body.expires_in === 'number') tokens.expires_at = Date.now() + body.expires_in * 1000;
    return tokens;
  }

  async user(accessToken: string): Promise<GitHubUser> {
    const body = await this.api('/user', accessToken);
    if (!isRecord(body) || typeof body.id !== 'number' || typeof body.login !== 'string') {
      throw new UpstreamError(this.name, 'GitHub\'s /user answer has no id and login');
    }
    const text = (key: string) => (typeof body[key] === 'string' ? body[key] : null);
    const count = (key: string) => (typeof body[key] === 'number' ? body[key] : 0);
    return {
      id: body.id,
      login: body.login,
      name: text('name'),
      avatar_url: text('avatar_url') ?? '',
      html_url: text('html_url') ?? `${this.settings.baseUrl}/${body.login}`,
      public_repos: count('public_repos'),
      followers: count('followers'),
      following: count('following'),
      company: text('company'),
      location: text('location'),
      bio: text('bio'),
      created_at: text('created_at') ?? '',
      email: text('email'),
    };
  }

  /** Lower-case logins of the organisations the user belongs to (needs read:org for private memberships). */
  async organizations(accessToken: string): Promise<string[]> {
    const body = await this.api('/user/orgs?per_page=100', accessToken);
    if (!Array.isArray(body)) throw new UpstreamError(this.name, 'GitHub\'s /user/orgs answer is not a list');
    return body.flatMap((org) => (isRecord(org) && typeof org.login === 'string' ? [org.login.toLowerCase()] : []));
  }

  private async api(path: string, accessToken: string): Promise<unknown> {
    const { status, body } = await upstreamJson(this.name, `${this.settings.apiUrl}${path}`, {
      headers: {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${accessToken}`,
        'x-github-api-version': '2022-11-28',
        'user-agent': USER_AGENT,
      },
    });
    if (status === 401) throw new UpstreamTokenRejectedError(this.name, 'GitHub no longer accepts this sign-in (the token was revoked or expired)');
    if (status !== 200) {
      const message = isRecord(body) && typeof body.message === 'string' ? `: ${body.message.slice(0, 200)}` : '';
      throw new UpstreamError(this.name, `GitHub's API answered ${path.split('?')[0]} with HTTP ${status}${message}`);
    }
    return body;
  }
}
