import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local server speaking GitHub's documented OAuth app endpoints and the two REST API endpoints a
 * sign-in needs, with the shapes GitHub documents (docs.github.com: "Authorizing OAuth apps",
 * "Troubleshooting authorization request errors", "Troubleshooting OAuth app access token request
 * errors", REST "Get the authenticated user", "List organizations for the authenticated user").
 *
 * The API lives under `/api/v3`, as on GitHub Enterprise Server, so a server that sends API calls
 * to the web URL (or the token request to the API URL) gets 404s. The person at GitHub is
 * simulated: `signInAs` picks who is signed in, and the app is authorized without a page (as for a
 * user who authorized it before); `denyNext` makes the next authorization a refusal.
 */

export interface FakeGitHubUser {
  login: string;
  /** GitHub's numeric user id; one is made up when omitted. */
  id?: number;
  name?: string | null;
  email?: string | null;
  company?: string | null;
  location?: string | null;
  bio?: string | null;
  blog?: string;
  publicRepos?: number;
  followers?: number;
  following?: number;
  /** ISO time, e.g. 2015-03-04T05:06:07Z. */
  createdAt?: string;
  /** Logins of the organisations the user belongs to. */
  orgs?: string[];
}

export interface FakeGitHubOptions {
  clientId: string;
  clientSecret: string;
  /** The OAuth app's registered "Authorization callback URL"; without it any redirect_uri is taken as registered. */
  callbackUrl?: string;
  users: FakeGitHubUser[];
  /** GitHub accepts authorizations without PKCE; this fake refuses them unless told otherwise, so a server that forgets PKCE fails. */
  requirePkce?: boolean;
}

export interface FakeGitHubRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  /** The token the request carried in Authorization ("Bearer x" or "token x"), if any. */
  token: string | undefined;
  /** The request body as text (token requests), else ''. */
  body: string;
  status?: number;
}

export interface FakeGitHub {
  /** The web origin: /login/oauth/authorize, /login/oauth/access_token, profile pages. */
  baseUrl: string;
  /** The REST API root (`${origin}/api/v3`): /user, /user/orgs. */
  apiUrl: string;
  /** From now on the person at this GitHub is `login` (who authorizes the next requests). */
  signInAs(login: string): void;
  /** The next authorization request is refused by the person (error=access_denied). */
  denyNext(): void;
  /** Revokes every token issued to `login` (as when they revoke the app in their settings): the API answers 401 Bad credentials. */
  revokeTokensOf(login: string): void;
  /** Renames the account (same numeric id), as GitHub allows. */
  rename(login: string, newLogin: string): void;
  /** The access tokens issued to `login` so far, newest last. */
  tokensOf(login: string): string[];
  requests: FakeGitHubRequest[];
  close(): Promise<void>;
}

const API_PREFIX = '/api/v3';
const CODE_TTL_MS = 10 * 60_000;
const DOCS = 'https://docs.github.com/apps/managing-oauth-apps';
/** Scopes that let a token list the user's organisations (GET /user/orgs). */
const ORG_READING_SCOPES = ['read:org', 'write:org', 'admin:org', 'user'];

interface IssuedCode {
  login: string;
  redirectUri: string;
  scopes: string[];
  codeChallenge: string | undefined;
  expires: number;
}

interface IssuedToken {
  login: string;
  scopes: string[];
  revoked: boolean;
}

export async function startFakeGitHub(options: FakeGitHubOptions): Promise<FakeGitHub> {
  const users = new Map<string, Required<FakeGitHubUser>>();
  let nextId = 5_000_001;
  for (const user of options.users) {
    const complete: Required<FakeGitHubUser> = {
      id: nextId++, name: null, email: null, company: null, location: null, bio: null, blog: '',
      publicRepos: 0, followers: 0, following: 0, createdAt: '2015-03-04T05:06:07Z', orgs: [], ...user,
    };
    users.set(user.login.toLowerCase(), complete);
  }
  const codes = new Map<string, IssuedCode>();
  const tokens = new Map<string, IssuedToken>();
  const requests: FakeGitHubRequest[] = [];
  let signedIn: string | undefined;
  let denyPending = false;
  const requirePkce = options.requirePkce ?? true;

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`fake GitHub failed: ${String(error)}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const apiUrl = `${origin}${API_PREFIX}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const body = await readBody(req);
    const record: FakeGitHubRequest = { method: req.method ?? 'GET', url, headers: req.headers, token: tokenIn(req.headers.authorization), body };
    requests.push(record);
    res.on('finish', () => (record.status = res.statusCode));

    if (url.pathname === '/login/oauth/authorize' && req.method === 'GET') return authorize(url, res);
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') return accessToken(req, body, res);
    if (url.pathname.startsWith(`${API_PREFIX}/`)) return api(req, url, record.token, res);
    const user = users.get(url.pathname.slice(1).toLowerCase());
    if (user && req.method === 'GET') return page(res, 200, user.login, `${user.name ?? user.login}'s profile.`);
    page(res, 404, 'Page not found', 'This is not the web page you are looking for.');
  }

  function authorize(url: URL, res: ServerResponse): void {
    const params = url.searchParams;
    // An unknown client_id gets GitHub's 404 page: nothing may be sent to an unverified redirect_uri.
    if (params.get('client_id') !== options.clientId) return page(res, 404, 'Page not found', 'This is not the web page you are looking for.');
    const state = params.get('state');
    const given = params.get('redirect_uri') ?? undefined;
    const registered = options.callbackUrl;
    const redirectUri = given ?? registered;
    if (!redirectUri) return page(res, 400, 'Missing redirect_uri', 'This application has no callback URL.');
    if (registered && given && !redirectMatches(given, registered)) {
      return redirectError(res, registered, state, 'redirect_uri_mismatch', 'The redirect_uri MUST match the registered callback URL for this application.', 'troubleshooting-authorization-request-errors/#redirect-uri-mismatch');
    }
    const challenge = params.get('code_challenge') ?? undefined;
    const method = params.get('code_challenge_method') ?? undefined;
    if (challenge === undefined && requirePkce) return page(res, 400, 'PKCE required', 'This test GitHub requires code_challenge (S256).');
    // GitHub supports only S256; a challenge is the base64url SHA-256 of the verifier (43 characters).
    if (challenge !== undefined && (method !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(challenge))) {
      return page(res, 400, 'Invalid PKCE parameters', 'code_challenge must be 43 base64url characters and code_challenge_method must be S256.');
    }
    if (denyPending) {
      denyPending = false;
      return redirectError(res, redirectUri, state, 'access_denied', 'The user has denied your application access.', 'troubleshooting-authorization-request-errors/#access-denied');
    }
    if (!signedIn) return page(res, 401, 'Sign in to GitHub', 'Nobody is signed in to this test GitHub (call signInAs first).');
    const code = randomBytes(10).toString('hex');
    const scopes = (params.get('scope') ?? '').split(/[\s,]+/).filter(Boolean);
    codes.set(code, { login: signedIn, redirectUri, scopes, codeChallenge: challenge, expires: Date.now() + CODE_TTL_MS });
    const target = new URL(redirectUri);
    target.searchParams.set('code', code);
    if (state !== null) target.searchParams.set('state', state);
    res.writeHead(302, { location: target.href });
    res.end();
  }

  function accessToken(req: IncomingMessage, body: string, res: ServerResponse): void {
    const params = tokenParams(req, body);
    const answer = (fields: Record<string, string>) => {
      // GitHub answers form-encoded unless JSON is asked for, and reports errors with status 200.
      if ((req.headers.accept ?? '').includes('application/json')) {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(fields));
      } else {
        res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
        res.end(new URLSearchParams(fields).toString());
      }
    };
    const error = (code: string, description: string, anchor: string) =>
      answer({ error: code, error_description: description, error_uri: `${DOCS}/troubleshooting-oauth-app-access-token-request-errors/#${anchor}` });

    if (params.client_id !== options.clientId || params.client_secret !== options.clientSecret) {
      return error('incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.', 'incorrect-client-credentials');
    }
    const issued = params.code === undefined ? undefined : codes.get(params.code);
    // Single use: the code is gone whatever the outcome below.
    if (params.code !== undefined) codes.delete(params.code);
    if (!issued || issued.expires < Date.now()) return error('bad_verification_code', 'The code passed is incorrect or expired.', 'bad-verification-code');
    if (params.redirect_uri !== undefined && params.redirect_uri !== issued.redirectUri) {
      return error('redirect_uri_mismatch', 'The redirect_uri MUST match the registered callback URL for this application.', 'redirect-uri-mismatch2');
    }
    const verifier = params.code_verifier;
    const pkceOk = issued.codeChallenge === undefined
      ? verifier === undefined
      : verifier !== undefined && createHash('sha256').update(verifier).digest('base64url') === issued.codeChallenge;
    if (!pkceOk) return error('bad_verification_code', 'The code passed is incorrect or expired.', 'bad-verification-code');

    const token = `gho_${randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36)}`;
    tokens.set(token, { login: issued.login, scopes: issued.scopes, revoked: false });
    answer({ access_token: token, token_type: 'bearer', scope: issued.scopes.join(',') });
  }

  function api(req: IncomingMessage, url: URL, token: string | undefined, res: ServerResponse): void {
    const path = url.pathname.slice(API_PREFIX.length);
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-github-media-type': 'github.v3; format=json', ...headers });
      res.end(JSON.stringify(value));
    };
    if (!req.headers['user-agent']) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).');
      return;
    }
    if (req.method !== 'GET' || (path !== '/user' && path !== '/user/orgs')) {
      return json(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
    }
    if (token === undefined) {
      return json(401, { message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest/users/users#get-the-authenticated-user', status: '401' });
    }
    const grant = tokens.get(token);
    const user = grant && !grant.revoked ? users.get(grant.login) : undefined;
    if (!grant || !user) return json(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
    const scopeHeaders = { 'x-oauth-scopes': grant.scopes.join(', '), 'x-accepted-oauth-scopes': path === '/user/orgs' ? 'admin:org, read:org, repo, user, write:org' : '' };

    if (path === '/user') return json(200, userJson(user), scopeHeaders);
    if (!grant.scopes.some((scope) => ORG_READING_SCOPES.includes(scope))) {
      return json(403, { message: 'You need at least read:org scope or user scope to list your organizations.', documentation_url: 'https://docs.github.com/rest/orgs/orgs#list-organizations-for-the-authenticated-user', status: '403' }, scopeHeaders);
    }
    // Paginated as GitHub does (per_page ≤ 100, default 30, Link rel="next").
    const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30));
    const pageNumber = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const all = user.orgs.map((login) => orgJson(login));
    const slice = all.slice((pageNumber - 1) * perPage, pageNumber * perPage);
    const headers: Record<string, string> = { ...scopeHeaders };
    if (pageNumber * perPage < all.length) {
      const next = new URL(url);
      next.searchParams.set('per_page', String(perPage));
      next.searchParams.set('page', String(pageNumber + 1));
      headers.link = `<${next.href}>; rel="next"`;
    }
    json(200, slice, headers);
  }

  function userJson(user: Required<FakeGitHubUser>): Record<string, unknown> {
    const self = `${apiUrl}/users/${user.login}`;
    return {
      login: user.login,
      id: user.id,
      node_id: Buffer.from(`04:User${user.id}`).toString('base64'),
      avatar_url: `${origin}/avatars/u/${user.id}?v=4`,
      gravatar_id: '',
      url: self,
      html_url: `${origin}/${user.login}`,
      followers_url: `${self}/followers`,
      following_url: `${self}/following{/other_user}`,
      gists_url: `${self}/gists{/gist_id}`,
      starred_url: `${self}/starred{/owner}{/repo}`,
      subscriptions_url: `${self}/subscriptions`,
      organizations_url: `${self}/orgs`,
      repos_url: `${self}/repos`,
      events_url: `${self}/events{/privacy}`,
      received_events_url: `${self}/received_events`,
      type: 'User',
      user_view_type: 'public',
      site_admin: false,
      name: user.name,
      company: user.company,
      blog: user.blog,
      location: user.location,
      email: user.email,
      hireable: null,
      bio: user.bio,
      twitter_username: null,
      public_repos: user.publicRepos,
      public_gists: 0,
      followers: user.followers,
      following: user.following,
      created_at: user.createdAt,
      updated_at: user.createdAt,
    };
  }

  function orgJson(login: string): Record<string, unknown> {
    const id = 9_000_000 + [...login].reduce((sum, char) => sum * 31 + char.charCodeAt(0), 7) % 1_000_000;
    const self = `${apiUrl}/orgs/${login}`;
    return {
      login, id, node_id: Buffer.from(`012:Organization${id}`).toString('base64'), url: self,
      repos_url: `${self}/repos`, events_url: `${self}/events`, hooks_url: `${self}/hooks`, issues_url: `${self}/issues`,
      members_url: `${self}/members{/member}`, public_members_url: `${self}/public_members{/member}`,
      avatar_url: `${origin}/avatars/u/${id}?v=4`, description: null,
    };
  }

  const userNamed = (login: string) => {
    const user = users.get(login.toLowerCase());
    if (!user) throw new Error(`fake GitHub has no user ${login}`);
    return user;
  };

  return {
    baseUrl: origin,
    apiUrl,
    requests,
    signInAs(login) {
      signedIn = userNamed(login).login.toLowerCase();
    },
    denyNext() {
      denyPending = true;
    },
    revokeTokensOf(login) {
      const key = userNamed(login).login.toLowerCase();
      for (const grant of tokens.values()) if (grant.login === key) grant.revoked = true;
    },
    rename(login, newLogin) {
      const user = userNamed(login);
      const oldKey = user.login.toLowerCase();
      const newKey = newLogin.toLowerCase();
      users.delete(oldKey);
      user.login = newLogin;
      users.set(newKey, user);
      for (const grant of tokens.values()) if (grant.login === oldKey) grant.login = newKey;
      for (const code of codes.values()) if (code.login === oldKey) code.login = newKey;
      if (signedIn === oldKey) signedIn = newKey;
    },
    tokensOf(login) {
      const key = userNamed(login).login.toLowerCase();
      return [...tokens.entries()].filter(([, grant]) => grant.login === key).map(([token]) => token);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * GitHub's rule for a redirect_uri given with the authorization request: the same scheme, host
 * and port as the registered callback URL, and a path at or below the callback's path.
 */
function redirectMatches(given: string, registered: string): boolean {
  const a = URL.parse(given);
  const b = URL.parse(registered);
  if (!a || !b || a.protocol !== b.protocol || a.host !== b.host) return false;
  const base = b.pathname.endsWith('/') ? b.pathname : `${b.pathname}/`;
  return a.pathname === b.pathname || a.pathname.startsWith(base);
}

function tokenIn(authorization: string | undefined): string | undefined {
  const match = /^(?:bearer|token)\s+(\S+)$/i.exec(authorization ?? '');
  return match?.[1];
}

/** The token request's parameters: form or JSON body, client credentials also accepted as HTTP Basic. */
function tokenParams(req: IncomingMessage, body: string): Record<string, string | undefined> {
  let params: Record<string, string | undefined> = {};
  if ((req.headers['content-type'] ?? '').includes('application/json')) {
    try {
      const parsed: unknown = JSON.parse(body);
      if (parsed && typeof parsed === 'object') {
        params = Object.fromEntries(Object.entries(parsed).filter(([, value]) => typeof value === 'string')) as Record<string, string>;
      }
    } catch {
      params = {};
    }
  } else {
    params = Object.fromEntries(new URLSearchParams(body));
  }
  const basic = /^basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      params.client_id ??= decodeURIComponent(decoded.slice(0, colon));
      params.client_secret ??= decodeURIComponent(decoded.slice(colon + 1));
    }
  }
  return params;
}

function redirectError(res: ServerResponse, redirectUri: string, state: string | null, error: string, description: string, anchor: string): void {
  const target = new URL(redirectUri);
  target.searchParams.set('error', error);
  target.searchParams.set('error_description', description);
  target.searchParams.set('error_uri', `${DOCS}/${anchor}`);
  if (state !== null) target.searchParams.set('state', state);
  res.writeHead(302, { location: target.href });
  res.end();
}

function page(res: ServerResponse, status: number, title: string, text: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><head><title>${title} · GitHub</title></head><body><h1>${title}</h1><p>${text}</p></body></html>`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}
