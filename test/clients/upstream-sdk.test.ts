import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { FakeGitHub, FakeGitHubUser } from '../support/fake-github.js';
import { recordingFetch, requestsTo, type FetchRecorder } from '../support/fetch-recorder.js';
import type { FormBrowser, Page } from '../support/form-browser.js';
import { parseForms, visibleText } from '../support/forms.js';
import { freePort } from '../support/free-port.js';
import { isConsentPage } from '../support/page-steps.js';
import { browserFor, signInAndAllow, type UpstreamPerson } from '../support/person-at-browser.js';
import { InMemoryOAuthClient, loopbackRedirect, sdkClientMetadata } from '../support/sdk-oauth-client.js';
import { authorizeSdkClient, connectSdkClient, generateUuids } from '../support/sdk-flow.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import type { UpstreamOidc, UpstreamOidcAccount } from '../support/upstream-oidc.js';
import { GITHUB_APP, OIDC_CLIENT, withFakeGitHub, withUpstreamOidc } from '../support/upstream-servers.js';
import { isUuidV4 } from '../support/uuids.js';

/**
 * The official SDK client (v1, this project's dependency) signing in to this server through an
 * upstream: the local GitHub (test/support/fake-github.ts) and a real OpenID provider
 * (test/support/upstream-oidc.ts). The SDK runs its own flow (401, discovery, registration, PKCE,
 * token exchange); the person clicks "Sign in with …" on our login page, the upstream sends the
 * browser back to our callback, and the person allows on our consent page. Then
 * get_user_profile shows who signed in, fetched from the upstream with the upstream's token,
 * which never leaves the server.
 */

const OCTOCAT: FakeGitHubUser = {
  login: 'Octo-Cat', id: 583231, name: 'The Octocat', company: '@github', location: 'San Francisco',
  bio: 'There once was…', publicRepos: 8, followers: 20, following: 9, createdAt: '2011-01-25T18:44:36Z',
};
const ALICE: UpstreamOidcAccount = { sub: 'alice-0001', email: 'alice@example.org', email_verified: true, name: 'Alice Example', groups: ['mcp-users', 'staff'] };

const structured = (result: CallToolResult) => result.structuredContent as Record<string, unknown>;
const textOf = (result: CallToolResult) => result.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');

async function callTool(client: Client, name: string): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: {} })) as CallToolResult;
}

/** The login page offers exactly this upstream button, posting to /interaction/{uid}/upstream/{provider} with a CSRF token. */
function assertUpstreamButton(page: Page, provider: 'github' | 'oidc', label: string): void {
  const form = parseForms(page.html).find((candidate) => /^\/interaction\/[^/]+\/upstream\//.test(candidate.action));
  assert.ok(form, `an upstream sign-in form on the login page: ${visibleText(page.html).slice(0, 300)}`);
  assert.match(form.action, new RegExp(`^/interaction/[^/]+/upstream/${provider}$`));
  assert.equal(form.method, 'POST');
  assert.ok(form.fields.csrf, 'the form carries a CSRF token');
  assert.match(page.html, new RegExp(`<button[^>]*>\\s*${label}\\s*</button>`), `a button "${label}"`);
}

/** Every request the upstream received, as text: where to look for a token that must never be there. */
const everythingSent = (requests: { url: URL; headers: Record<string, unknown>; body?: string }[]) =>
  requests.map((request) => `${request.url.href}\n${JSON.stringify(request.headers)}\n${request.body ?? ''}`).join('\n');

describe('SDK client through "Sign in with GitHub"', () => {
  let github: FakeGitHub;
  let server: ServerProcess;
  let recorder: FetchRecorder;
  let oauth: InMemoryOAuthClient;
  let client: Client;
  let person: UpstreamPerson;
  let ourUserId: unknown;
  /** The person's browser: signed in here, and GitHub remembers it authorized the OAuth app. */
  let browser: FormBrowser;

  before(async () => {
    const setup = await withFakeGitHub([OCTOCAT, { login: 'hubot', name: 'Hubot' }]);
    github = setup.upstream;
    person = { upstream: 'github', at: github.baseUrl };
    server = await startServerProcess(setup.options);
    recorder = recordingFetch(server.url, (request) => request.url.pathname === '/register' || request.url.pathname === '/token');
  });
  after(async () => {
    await client?.close().catch(() => undefined);
    await server?.stop();
    await github?.close();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  it('401 → discovery → registration → our login page → GitHub → our callback → our consent → token → get_user_profile is the GitHub profile', { timeout: 60_000 }, async () => {
    github.signInAs('Octo-Cat');
    const redirect = loopbackRedirect(await freePort());
    oauth = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
    const mark = github.requests.length;
    const seen: Page[] = [];
    recorder.step();
    browser = browserFor(server.url, person);
    const callback = await authorizeSdkClient(server, oauth, { fetch: recorder.fetch, person, seen, browser });
    const flow = recorder.since();

    // The SDK's own discovery and registration, as for any sign-in.
    assert.equal(flow[0]?.status, 401, 'the SDK starts with initialize, refused without a token');
    assert.equal(requestsTo(flow, 'POST', '/register')[0]?.status, 201, 'the SDK registered');

    // Two pages of ours: the login page with the GitHub button, then our consent page naming the GitHub user.
    assert.equal(seen.length, 2, `pages seen: ${seen.map((page) => page.url.pathname).join(', ')}`);
    const [login, consent] = seen as [Page, Page];
    assert.equal(login.url.origin, server.url);
    assertUpstreamButton(login, 'github', 'Sign in with GitHub');
    assert.equal(consent.url.origin, server.url, 'back on our server after GitHub');
    assert.ok(isConsentPage(consent), `our consent page after GitHub: ${visibleText(consent.html).slice(0, 300)}`);
    assert.match(visibleText(consent.html), /The Octocat \(github:octo-cat\)/, 'the consent page names the GitHub user');

    // What our server asked of GitHub: its client id, our callback, PKCE S256, a random state; then the code exchange.
    const atGitHub = github.requests.slice(mark);
    const authorizations = atGitHub.filter((request) => request.url.pathname === '/login/oauth/authorize');
    assert.equal(authorizations.length, 1, 'one authorization request at GitHub');
    const sent = authorizations[0]!.url.searchParams;
    assert.equal(sent.get('client_id'), GITHUB_APP.clientId);
    assert.equal(sent.get('redirect_uri'), `${server.url}/github/callback`);
    assert.equal(sent.get('code_challenge_method'), 'S256');
    assert.match(sent.get('state') ?? '', /^[A-Za-z0-9_-]{22,}$/, 'a state of at least 128 random bits');
    assert.doesNotMatch(sent.get('scope') ?? '', /read:org/, 'no organisation access asked when no organisation allowlist is set');
    const exchanges = atGitHub.filter((request) => request.url.pathname === '/login/oauth/access_token');
    assert.equal(exchanges.length, 1, 'one code exchange at GitHub');
    const exchange = new URLSearchParams(exchanges[0]!.body);
    const basic = exchanges[0]!.headers.authorization;
    assert.ok(exchange.get('client_secret') === GITHUB_APP.clientSecret || basic === `Basic ${Buffer.from(`${GITHUB_APP.clientId}:${GITHUB_APP.clientSecret}`).toString('base64')}`, 'the OAuth app\'s secret authenticates the exchange');
    assert.equal(createHash('sha256').update(exchange.get('code_verifier') ?? '').digest('base64url'), sent.get('code_challenge'), 'the PKCE verifier of the challenge');

    // Our authorization response and tokens: the SDK got a code from us, and tokens that are not GitHub's.
    assert.equal(callback.searchParams.get('iss'), server.url);
    assert.equal(callback.searchParams.get('state'), oauth.authorizationUrl!.searchParams.get('state'));
    const ours = oauth.savedTokens!.access_token;
    const [upstreamToken] = github.tokensOf('Octo-Cat');
    assert.ok(ours && upstreamToken);
    assert.notEqual(ours, upstreamToken);
    assert.ok(!JSON.stringify(oauth.savedTokens).includes(upstreamToken), 'the GitHub token is not in what the client received');

    // get_user_profile: GitHub's profile, fetched by the server with the GitHub token.
    client = await connectSdkClient(server, oauth, { fetch: recorder.fetch });
    const beforeCall = github.requests.length;
    const profile = await callTool(client, 'get_user_profile');
    assert.notEqual(profile.isError, true, textOf(profile));
    const { id, ...fromGitHub } = structured(profile);
    assert.deepEqual(fromGitHub, {
      signedInWith: 'github',
      login: 'Octo-Cat',
      name: 'The Octocat',
      avatarUrl: `${github.baseUrl}/avatars/u/583231?v=4`,
      profileUrl: `${github.baseUrl}/Octo-Cat`,
      publicRepos: 8,
      followers: 20,
      following: 9,
      company: '@github',
      location: 'San Francisco',
      bio: 'There once was…',
      createdAt: '2011-01-25T18:44:36Z',
    });
    assert.ok(id !== undefined && id !== 583231 && id !== '583231', `id is our user id, not GitHub's: ${String(id)}`);
    ourUserId = id;
    const userCalls = github.requests.slice(beforeCall).filter((request) => request.url.pathname === '/api/v3/user');
    assert.equal(userCalls.length, 1, 'the profile was fetched from GitHub\'s API for this call');
    assert.equal(userCalls[0]!.token, upstreamToken, 'with the stored GitHub token');
    assert.equal(userCalls[0]!.status, 200);
    assert.ok(!everythingSent(github.requests).includes(ours), 'our access token never reached GitHub');

    const uuids = await generateUuids(client);
    assert.ok(isUuidV4(uuids[0]!), uuids[0]);
  });

  it('confused deputy: another application in the same browser (signed in here, GitHub remembering the OAuth app) still gets our consent page before any code', { timeout: 60_000 }, async () => {
    const redirect = loopbackRedirect(await freePort());
    const other = new InMemoryOAuthClient(redirect, { ...sdkClientMetadata(redirect), client_name: 'Some Other App' });
    const seen: Page[] = [];
    const callback = await authorizeSdkClient(server, other, { person, seen, browser });
    assert.equal(seen.length, 1, `one page: ${seen.map((page) => visibleText(page.html).slice(0, 80)).join(' | ')}`);
    assert.ok(isConsentPage(seen[0]!), `our consent page, not a silent redirect: ${visibleText(seen[0]!.html).slice(0, 300)}`);
    assert.match(visibleText(seen[0]!.html), /Some Other App/, 'naming the other application');
    assert.ok(callback.searchParams.get('code'), 'a code only after Allow');
    assert.notEqual(other.clientInfo?.client_id, oauth.clientInfo?.client_id);
  });

  it('the GitHub token is not a token for this server: /mcp answers it 401 invalid_token', async () => {
    const [upstreamToken] = github.tokensOf('Octo-Cat');
    const response = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${upstreamToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  it('GitHub revokes the token: get_user_profile is a tool error saying to sign in again; generate_uuid still works', { timeout: 30_000 }, async () => {
    github.revokeTokensOf('Octo-Cat');
    const mark = github.requests.length;
    const result = await callTool(client, 'get_user_profile');
    assert.equal(result.isError, true, `a tool error: ${JSON.stringify(result)}`);
    assert.match(textOf(result), /GitHub/);
    assert.match(textOf(result), /sign in again/i);
    const userCalls = github.requests.slice(mark).filter((request) => request.url.pathname === '/api/v3/user');
    assert.deepEqual(userCalls.map((request) => request.status), [401], 'GitHub said "Bad credentials" to the revoked token');
    assert.ok(isUuidV4((await generateUuids(client))[0]!), 'our own token still works for the other tool');
  });

  it('signing in again (the login renamed at GitHub meanwhile) is the same user of ours, linked by GitHub\'s id; the profile works with the new token', { timeout: 60_000 }, async () => {
    github.rename('Octo-Cat', 'octo-renamed');
    github.signInAs('octo-renamed');
    const redirect = loopbackRedirect(await freePort());
    const again = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
    const seen: Page[] = [];
    await authorizeSdkClient(server, again, { person, seen });
    assert.equal(seen.length, 2, 'a new browser: our login page, then (GitHub authorizing at once) our consent page');
    assert.ok(isConsentPage(seen[1]!), `our consent page: ${visibleText(seen[1]!.html).slice(0, 300)}`);
    assert.match(visibleText(seen[1]!.html), /The Octocat \(github:octo-renamed\)/, 'the username follows the new login');
    const second = await connectSdkClient(server, again);
    try {
      const profile = await callTool(second, 'get_user_profile');
      assert.notEqual(profile.isError, true, textOf(profile));
      assert.equal(structured(profile).login, 'octo-renamed');
      assert.deepEqual(structured(profile).id, ourUserId, 'the same user of ours');
      const latest = github.tokensOf('octo-renamed').at(-1);
      assert.equal(github.requests.filter((request) => request.url.pathname === '/api/v3/user').at(-1)?.token, latest, 'the newest GitHub token is used');
    } finally {
      await second.close();
    }
  });

  it('the person refuses at GitHub: the SDK client receives access_denied at its redirect URI, with its state, and no code', { timeout: 60_000 }, async () => {
    github.signInAs('hubot');
    github.denyNext();
    const redirect = loopbackRedirect(await freePort());
    const refused = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
    const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), { authProvider: refused });
    await assert.rejects(new Client({ name: 'sdk-e2e', version: '1.0.0' }).connect(transport), UnauthorizedError);
    const authorizationUrl = refused.authorizationUrl!;
    const seen: Page[] = [];
    const back = await signInAndAllow(browserFor(server.url, person), authorizationUrl, person, seen);
    assert.equal(`${back.origin}${back.pathname}`, redirect);
    assert.equal(back.searchParams.get('error'), 'access_denied', back.href);
    assert.equal(back.searchParams.get('state'), authorizationUrl.searchParams.get('state'));
    assert.equal(back.searchParams.get('code'), null);
    assert.equal(back.searchParams.get('iss'), server.url);
    assert.equal(seen.length, 1, 'only the login page: no consent page for a refused sign-in');
  });
});

describe('SDK client through "Sign in with" an OpenID Connect provider', () => {
  let oidc: UpstreamOidc;
  let server: ServerProcess;
  let person: UpstreamPerson;

  before(async () => {
    const setup = await withUpstreamOidc([ALICE], { env: { OIDC_NAME: 'Example ID' } });
    oidc = setup.upstream;
    person = { upstream: 'oidc', at: oidc.issuer };
    server = await startServerProcess(setup.options);
  });
  after(async () => {
    await server?.stop();
    await oidc?.close();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  it('401 → … → our login page → the provider → our callback → consent → token → get_user_profile is the ID token\'s claims', { timeout: 60_000 }, async () => {
    oidc.signInAs('alice-0001');
    const redirect = loopbackRedirect(await freePort());
    const oauth = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
    const seen: Page[] = [];
    const mark = oidc.requests.length;
    await authorizeSdkClient(server, oauth, { person, seen });

    assert.equal(seen.length, 2, `pages seen: ${seen.map((page) => page.url.pathname).join(', ')}`);
    assertUpstreamButton(seen[0]!, 'oidc', 'Sign in with Example ID');
    assert.ok(isConsentPage(seen[1]!), `our consent page after the provider: ${visibleText(seen[1]!.html).slice(0, 300)}`);
    assert.match(visibleText(seen[1]!.html), /Alice Example \(alice@example\.org\)/, 'the consent page names the person: verified e-mail as username');

    // Our server as a relying party: code flow with PKCE S256, a nonce and a state, our callback.
    const authorizations = oidc.requests.slice(mark).filter((request) => request.url.pathname === '/auth');
    assert.equal(authorizations.length, 1, 'one authorization request at the provider');
    const sent = authorizations[0]!.url.searchParams;
    assert.equal(sent.get('client_id'), OIDC_CLIENT.clientId);
    assert.equal(sent.get('redirect_uri'), `${server.url}/oidc/callback`);
    assert.equal(sent.get('response_type'), 'code');
    assert.equal(sent.get('code_challenge_method'), 'S256');
    assert.ok((sent.get('nonce') ?? '').length >= 22, 'a nonce');
    assert.ok((sent.get('state') ?? '').length >= 22, 'a state');
    assert.deepEqual((sent.get('scope') ?? '').split(' ').sort(), ['email', 'openid', 'profile'], 'OIDC_SCOPES\' default');
    assert.equal(oidc.requests.slice(mark).filter((request) => request.method === 'POST' && request.url.pathname === '/token').length, 1, 'one code exchange');

    const client = await connectSdkClient(server, oauth);
    try {
      const profile = await callTool(client, 'get_user_profile');
      assert.notEqual(profile.isError, true, textOf(profile));
      const { id, claims, ...rest } = structured(profile) as { id: unknown; claims: Record<string, unknown> } & Record<string, unknown>;
      assert.deepEqual(rest, { signedInWith: 'oidc', issuer: oidc.issuer, subject: 'alice-0001', email: 'alice@example.org', emailVerified: true, name: 'Alice Example' });
      assert.ok(id !== undefined && id !== 'alice-0001', `id is our user id: ${String(id)}`);
      assert.deepEqual(claims.groups, ['mcp-users', 'staff'], 'the provider\'s other claims are shown');
      assert.equal(claims.email, 'alice@example.org');
      for (const internal of ['iat', 'exp', 'nonce', 'at_hash', 'aud', 'azp']) assert.equal(claims[internal], undefined, `${internal} is not shown`);
      assert.ok(isUuidV4((await generateUuids(client))[0]!));
    } finally {
      await client.close();
    }
  });

  it('the person refuses at the provider: the SDK client receives access_denied with its state', { timeout: 60_000 }, async () => {
    oidc.signInAs('alice-0001');
    oidc.denyNext();
    const redirect = loopbackRedirect(await freePort());
    const refused = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
    const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), { authProvider: refused });
    await assert.rejects(new Client({ name: 'sdk-e2e', version: '1.0.0' }).connect(transport), UnauthorizedError);
    const back = await signInAndAllow(browserFor(server.url, person), refused.authorizationUrl!, person);
    assert.equal(`${back.origin}${back.pathname}`, redirect);
    assert.equal(back.searchParams.get('error'), 'access_denied', back.href);
    assert.equal(back.searchParams.get('state'), refused.authorizationUrl!.searchParams.get('state'));
    assert.equal(back.searchParams.get('code'), null);
  });
});
