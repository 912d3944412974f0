import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UPSTREAM_STARTS_PER_ADDRESS } from '../../src/authorization/interactions.js';
import { DATABASE_FILE } from '../../src/storage/sqlite/database.js';
import type { FakeGitHub } from '../support/fake-github.js';
import { asPage, FormBrowser, formWithAction, type Page } from '../support/form-browser.js';
import { visibleText } from '../support/forms.js';
import { freePort } from '../support/free-port.js';
import { mcpRequest, openSession, RawOAuthClient, toolsCallMessage, tokensOf } from '../support/raw-oauth.js';
import { restartServer, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { eventually } from '../support/time-limit.js';
import { allow, atUpstream, backAtCallback, clickUpstreamButton, authorizeThroughUpstream, throughUpstream, userProfileFor } from '../support/upstream-flow.js';
import { GITHUB_APP, withFakeGitHub } from '../support/upstream-servers.js';

const OCTOCAT = {
  login: 'Octocat', id: 583231, name: 'The Octocat', company: '@github', location: 'San Francisco', bio: 'A cat with eight arms',
  publicRepos: 8, followers: 9000, following: 9, createdAt: '2011-01-25T18:44:36Z',
};

/**
 * A GitHub OAuth app on a fake GitHub, and our server signing people in with it; `env` (or, given
 * GitHub's URLs, `adjust`) changes its settings. `env` is what to restart it with.
 */
async function start(env: Record<string, string> = {}, users = [OCTOCAT, { login: 'mona', orgs: ['Acme'] }, { login: 'hubot' }], adjust: (github: FakeGitHub) => Record<string, string> = () => ({})): Promise<{ server: ServerProcess; github: FakeGitHub; env: Record<string, string> }> {
  const { upstream: github, options } = await withFakeGitHub(users, { env });
  const fullEnv = { ...options.env, ...adjust(github) };
  return { server: await startServerProcess({ ...options, env: fullEnv }), github, env: fullEnv };
}

/** Signs in as `login` through GitHub from a fresh browser: the page our callback shows (consent when the sign-in worked). */
async function callbackPage(server: ServerProcess, github: FakeGitHub, login = 'octocat'): Promise<Page> {
  github.signInAs(login);
  const client = await RawOAuthClient.registerLoopback(server);
  return asPage(await throughUpstream(new FormBrowser(server.url), client.authorizationRequest().url, 'github', server.url));
}

describe('sign in with GitHub', () => {
  let server: ServerProcess;
  let github: FakeGitHub;
  before(async () => {
    ({ server, github } = await start());
  });
  after(async () => {
    await server?.stop();
    await github?.close();
  });

  it('shows "Sign in with GitHub" on our sign-in page as a CSRF-protected form, next to the password form, and lets the page post on to GitHub', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const login = asPage(await new FormBrowser(server.url).open(client.authorizationRequest().url));
    const form = formWithAction(login, '/upstream/github');
    assert.equal(form.method.toLowerCase(), 'post');
    assert.match(form.action, /^\/interaction\/[^/]+\/upstream\/github$/);
    assert.ok(form.fields.csrf, 'a csrf field');
    assert.match(login.html, />Sign in with GitHub<\/button>/);
    formWithAction(login, '/login');
    const csp = login.headers.get('content-security-policy') ?? '';
    assert.match(csp, new RegExp(`form-action [^;]*${new URL(github.baseUrl).origin.replace(/[.:/]/g, '\\$&')}`), csp);
  });

  it('goes to GitHub only on the button\'s POST, with PKCE S256, a random state and our callback; the consent page follows GitHub, then the client gets a code', async () => {
    github.signInAs('octocat');
    const browser = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const authRequest = client.authorizationRequest();
    const { authorizeUrl } = await clickUpstreamButton(browser, authRequest.url, 'github');
    assert.equal(authorizeUrl.origin + authorizeUrl.pathname, `${github.baseUrl}/login/oauth/authorize`);
    const params = authorizeUrl.searchParams;
    assert.equal(params.get('client_id'), GITHUB_APP.clientId);
    assert.equal(params.get('redirect_uri'), `${server.url}/github/callback`);
    assert.equal(params.get('code_challenge_method'), 'S256');
    assert.match(params.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(params.get('scope') ?? '', /read:user/);
    assert.ok((params.get('state') ?? '').length >= 22, 'at least 128 bits of state');
    assert.notEqual(params.get('state'), authRequest.state, 'not the client\'s state');
    const consent = asPage(await backAtCallback(browser, await atUpstream(authorizeUrl, server.url)));
    assert.equal(consent.status, 200);
    assert.match(visibleText(consent.html), /The Octocat \(github:octocat\)/, 'the consent page names who signed in');
    const callback = await allow(browser, consent);
    assert.equal(callback.origin + callback.pathname, client.redirectUri);
    assert.equal(callback.searchParams.get('state'), authRequest.state);
    const tokens = tokensOf(await client.exchange(callback.searchParams.get('code')!, authRequest.verifier));
    const githubTokens = github.tokensOf('octocat');
    assert.ok(githubTokens.length > 0);
    for (const token of githubTokens) {
      assert.ok(!JSON.stringify(tokens).includes(token), 'the GitHub token is never given to the MCP client');
      assert.ok(!callback.href.includes(token));
    }
  });

  it('get_user_profile returns the GitHub profile, fetched server-side with the stored GitHub token (never the client\'s)', async () => {
    const { tokens } = await authorizeThroughUpstream(server, github, 'github', 'octocat');
    const before = github.requests.length;
    const result = await userProfileFor(server, tokens.access_token);
    assert.notEqual(result.isError, true, JSON.stringify(result));
    const profile = result.structuredContent!;
    assert.equal(profile.signedInWith, 'github');
    assert.equal(profile.login, 'Octocat');
    assert.equal(profile.name, 'The Octocat');
    assert.equal(profile.publicRepos, 8);
    assert.equal(profile.followers, 9000);
    assert.equal(profile.following, 9);
    assert.equal(profile.company, '@github');
    assert.equal(profile.location, 'San Francisco');
    assert.equal(profile.bio, 'A cat with eight arms');
    assert.equal(profile.createdAt, '2011-01-25T18:44:36Z');
    assert.equal(typeof profile.avatarUrl, 'string');
    assert.match(String(profile.profileUrl), /octocat/i);
    assert.match(String(profile.id), /^[0-9a-f-]{36}$/, 'our user id, not GitHub\'s');
    const userCalls = github.requests.slice(before).filter((entry) => entry.url.pathname.endsWith('/user'));
    assert.equal(userCalls.length, 1, 'one /user call for the tool');
    assert.ok(github.tokensOf('octocat').includes(userCalls[0]!.token!), 'made with a GitHub token');
    assert.notEqual(userCalls[0]!.token, tokens.access_token, 'never with the MCP client\'s token');
    for (const token of github.tokensOf('octocat')) assert.ok(!JSON.stringify(result).includes(token), 'the tool\'s answer holds no GitHub token');
  });

  it('a GitHub token at /mcp gets 401 invalid_token: only this server\'s tokens are accepted', async () => {
    await authorizeThroughUpstream(server, github, 'github', 'hubot');
    const githubToken = github.tokensOf('hubot').at(-1)!;
    const reply = await mcpRequest(server, githubToken, toolsCallMessage(1, 'get_user_profile'));
    assert.equal(reply.status, 401);
    assert.match(reply.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  it('when the person refuses at GitHub (access_denied), the MCP client receives error=access_denied at its redirect URI', async () => {
    github.signInAs('octocat');
    github.denyNext();
    const browser = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const authRequest = client.authorizationRequest();
    const { authorizeUrl } = await clickUpstreamButton(browser, authRequest.url, 'github');
    const callback = await atUpstream(authorizeUrl, server.url);
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    const visit = await backAtCallback(browser, callback);
    assert.equal(visit.kind, 'left', 'sent back to the client');
    if (visit.kind !== 'left') return;
    assert.equal(visit.location.origin + visit.location.pathname, client.redirectUri);
    assert.equal(visit.location.searchParams.get('error'), 'access_denied');
    assert.equal(visit.location.searchParams.get('state'), authRequest.state);
    assert.equal(visit.location.searchParams.get('code'), null);
  });

  it('the upstream state is single-use: the same callback again is refused with 400 "Sign-in expired"', async () => {
    github.signInAs('octocat');
    const browser = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const { authorizeUrl } = await clickUpstreamButton(browser, client.authorizationRequest().url, 'github');
    const callback = await atUpstream(authorizeUrl, server.url);
    const first = await backAtCallback(browser, callback);
    assert.equal(asPage(first).status, 200, 'the first use reaches consent');
    const again = asPage(await backAtCallback(browser, callback));
    assert.equal(again.status, 400);
    assert.match(visibleText(again.html), /Sign-in expired/);
    const unknown = asPage(await browser.open(`/github/callback?code=x&state=${'A'.repeat(43)}`));
    assert.equal(unknown.status, 400, 'an unknown state');
    const missing = asPage(await browser.open('/github/callback?code=x'));
    assert.equal(missing.status, 400, 'no state at all');
  });

  it('the callback in another browser is refused with 403, without its binding cookie or with another browser\'s; the right browser still completes', async () => {
    github.signInAs('octocat');
    const victim = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const { authorizeUrl } = await clickUpstreamButton(victim, client.authorizationRequest().url, 'github');
    const callback = await atUpstream(authorizeUrl, server.url);

    const stranger = new FormBrowser(server.url);
    const noCookie = asPage(await stranger.open(callback));
    assert.equal(noCookie.status, 403);
    assert.match(visibleText(noCookie.html), /another browser/);

    // The attacker's own binding cookie (from starting a sign-in of their own) does not match the victim's state.
    const attacker = new FormBrowser(server.url);
    await clickUpstreamButton(attacker, (await RawOAuthClient.registerLoopback(server)).authorizationRequest().url, 'github');
    const otherCookie = asPage(await attacker.open(callback));
    assert.equal(otherCookie.status, 403);

    const consent = asPage(await victim.open(callback));
    assert.equal(consent.status, 200, 'refusals for the binding do not spend the state');
    formWithAction(consent, '/confirm');
  });

  it('two sign-ins started in two tabs of one browser both complete, in either order: the second click does not make the first tab\'s callback a 403', async () => {
    github.signInAs('octocat');
    const browser = new FormBrowser(server.url);
    const tabs = [];
    for (let i = 0; i < 3; i += 1) {
      const client = await RawOAuthClient.registerLoopback(server);
      const authRequest = client.authorizationRequest();
      const { authorizeUrl } = await clickUpstreamButton(browser, authRequest.url, 'github');
      tabs.push({ client, authRequest, callback: await atUpstream(authorizeUrl, server.url) });
    }
    for (const tab of [tabs[0]!, tabs[2]!, tabs[1]!]) {
      const consent = await backAtCallback(browser, tab.callback);
      assert.equal(asPage(consent).status, 200, visibleText(asPage(consent).html));
      const back = await allow(browser, consent);
      assert.equal(back.origin + back.pathname, tab.client.redirectUri);
      assert.equal(back.searchParams.get('state'), tab.authRequest.state, 'each tab\'s code goes to its own request');
    }
  });

  it('the binding cookie is HttpOnly, SameSite=Lax, Path=/, and short-lived', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const browser = new FormBrowser(server.url);
    const login = asPage(await browser.open(client.authorizationRequest().url));
    const form = formWithAction(login, '/upstream/github');
    const answer = await fetch(new URL(form.action, server.url), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.url, cookie: browser.cookieHeader(new URL(form.action, server.url)) },
      body: new URLSearchParams(form.fields),
    });
    assert.equal(answer.status, 303);
    const cookie = answer.headers.getSetCookie().find((line) => line.startsWith('upstream_binding='));
    assert.ok(cookie, answer.headers.getSetCookie().join('\n'));
    assert.match(cookie, /; HttpOnly/i);
    assert.match(cookie, /; SameSite=Lax/i);
    assert.match(cookie, /; Path=\//);
    assert.match(cookie, /; Max-Age=600/);
  });

  it('the button\'s POST without the CSRF token is refused with 403 and goes nowhere', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const browser = new FormBrowser(server.url);
    const login = asPage(await browser.open(client.authorizationRequest().url));
    const form = formWithAction(login, '/upstream/github');
    const refused = await browser.submit(login, form, { csrf: 'forged' });
    assert.equal(refused.kind, 'page');
    assert.equal(asPage(refused).status, 403);
  });

  it('a revoked GitHub token makes get_user_profile a tool error that says to sign in again; the MCP token itself still works', async () => {
    const { tokens } = await authorizeThroughUpstream(server, github, 'github', 'mona');
    github.revokeTokensOf('mona');
    const result = await userProfileFor(server, tokens.access_token);
    assert.equal(result.isError, true);
    const text = result.content?.map((part) => part.text).join(' ') ?? '';
    assert.match(text, /GitHub no longer accepts/);
    assert.match(text, /sign in again/i);
    const uuids = await mcpRequest(server, tokens.access_token, toolsCallMessage(3, 'generate_uuid'), { sessionId: await openSession(server, tokens.access_token) });
    assert.equal(uuids.status, 200);
  });

  it('a password never signs in a GitHub user', async () => {
    await authorizeThroughUpstream(server, github, 'github', 'octocat');
    const client = await RawOAuthClient.registerLoopback(server);
    const browser = new FormBrowser(server.url);
    const login = asPage(await browser.open(client.authorizationRequest().url));
    for (const password of ['', 'x'.repeat(20)]) {
      const answer = asPage(await browser.submit(login, formWithAction(login, '/login'), { username: 'github:octocat', password }));
      assert.equal(answer.status, 401, `password "${password}"`);
    }
  });

  it('upstream tokens are in no log line and not in clear in the database', async () => {
    await authorizeThroughUpstream(server, github, 'github', 'octocat');
    const issued = github.tokensOf('octocat');
    assert.ok(issued.length > 0);
    const output = server.output();
    for (const token of issued) assert.ok(!output.includes(token), 'not in the server output');
    assert.match(output, /upstream\.signed_in.*provider=github.*upstreamUser=Octocat/, 'the log says who signed in with what');
    for (const file of [DATABASE_FILE, `${DATABASE_FILE}-wal`]) {
      const full = path.join(server.dataDir, file);
      if (!fs.existsSync(full)) continue;
      const bytes = fs.readFileSync(full);
      for (const token of issued) assert.equal(bytes.indexOf(token), -1, `${file} holds no GitHub token in clear`);
    }
    const keyFile = path.join(server.dataDir, 'upstream-token.key');
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600, 'the generated key file is readable by its owner only');
  });
});

describe('GitHub identities over time', () => {
  it('a renamed GitHub login is the same user (renamed), and a restart keeps the link', async () => {
    const started = await start();
    let { server } = started;
    const { github, env } = started;
    try {
      const first = await authorizeThroughUpstream(server, github, 'github', 'hubot');
      const id = (await userProfileFor(server, first.tokens.access_token)).structuredContent!.id;
      github.rename('hubot', 'HubotTwo');
      server = await restartServer(server, { env });
      const second = await authorizeThroughUpstream(server, github, 'github', 'HubotTwo');
      const profile = (await userProfileFor(server, second.tokens.access_token)).structuredContent!;
      assert.equal(profile.id, id, 'same user id');
      assert.equal(profile.login, 'HubotTwo');
      assert.match(visibleText((await callbackPage(server, github, 'HubotTwo')).html), /github:hubottwo/, 'the consent page names the new username');
    } finally {
      await server.stop();
      await github.close();
    }
  });
});

describe('who may sign in with GitHub', () => {
  let server: ServerProcess;
  let github: FakeGitHub;
  before(async () => {
    ({ server, github } = await start({ GITHUB_ALLOWED_USERS: 'OCTOCAT', GITHUB_ALLOWED_ORGS: 'acme' }));
  });
  after(async () => {
    await server?.stop();
    await github?.close();
  });

  it('asks for read:org to read memberships', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const { authorizeUrl } = await clickUpstreamButton(new FormBrowser(server.url), client.authorizationRequest().url, 'github');
    assert.deepEqual((authorizeUrl.searchParams.get('scope') ?? '').split(/[ ,]/).sort(), ['read:org', 'read:user']);
  });

  it('lets in an allowed login (any case) and a member of an allowed organisation', async () => {
    await authorizeThroughUpstream(server, github, 'github', 'octocat');
    await authorizeThroughUpstream(server, github, 'github', 'mona');
  });

  it('refuses anyone else with a 403 page saying who and why, whose "Back to the application" gives the client access_denied', async () => {
    github.signInAs('hubot');
    const browser = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const authRequest = client.authorizationRequest();
    const refused = asPage(await throughUpstream(browser, authRequest.url, 'github', server.url));
    assert.equal(refused.status, 403);
    const text = visibleText(refused.html);
    assert.match(text, /GitHub user hubot may not sign in/);
    assert.match(text, /not one of the GitHub accounts allowed/);
    assert.match(text, /not a member of the organisation acme/);
    const back = /href="([^"]+)"[^>]*>Back to the application/.exec(refused.html)?.[1];
    assert.ok(back, 'a "Back to the application" link');
    const visit = await browser.open(back.replace(/&amp;/g, '&'));
    assert.equal(visit.kind, 'left');
    if (visit.kind !== 'left') return;
    assert.equal(visit.location.origin + visit.location.pathname, client.redirectUri);
    assert.equal(visit.location.searchParams.get('error'), 'access_denied');
    assert.equal(visit.location.searchParams.get('state'), authRequest.state);
  });
});

describe('starting GitHub sign-ins from one address', () => {
  it(`is limited to ${UPSTREAM_STARTS_PER_ADDRESS} per 10 minutes (each stores a state): then a 429 page with Retry-After; refused clicks do not count`, async () => {
    const { server, github } = await start();
    try {
      const client = await RawOAuthClient.registerLoopback(server);
      const browser = new FormBrowser(server.url);
      const login = asPage(await browser.open(client.authorizationRequest().url));
      const form = formWithAction(login, '/upstream/github');
      const click = (fields: Record<string, string>) => fetch(new URL(form.action, server.url), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.url, cookie: browser.cookieHeader(new URL(form.action, server.url)) },
        body: new URLSearchParams(fields),
      });
      for (let i = 0; i < 5; i += 1) assert.equal((await click({ ...form.fields, csrf: 'forged' })).status, 403);
      for (let i = 0; i < UPSTREAM_STARTS_PER_ADDRESS; i += 1) {
        const started = await click(form.fields);
        assert.equal(started.status, 303, `click ${i + 1}`);
        assert.match(started.headers.get('location') ?? '', /\/login\/oauth\/authorize\?/);
      }
      const limited = await click(form.fields);
      assert.equal(limited.status, 429);
      assert.match(limited.headers.get('content-type') ?? '', /text\/html/);
      assert.ok(Number(limited.headers.get('retry-after')) > 0, 'Retry-After in seconds');
      assert.equal(limited.headers.get('location'), null, 'not sent to GitHub');
      assert.match(visibleText(await limited.text()), /Too many sign-ins were started from your address/);
      await eventually(() => assert.match(server.output(), /upstream\.rate_limited.*ip=/), 5_000);
    } finally {
      await server.stop();
      await github.close();
    }
  });
});

describe('GitHub misbehaving', () => {
  it('an unreachable GitHub API gives a 502 page with a clear message, never a 500', async () => {
    const deadPort = await freePort();
    const { server, github } = await start({ GITHUB_API_URL: `http://127.0.0.1:${deadPort}/api/v3` });
    try {
      const page = await callbackPage(server, github);
      assert.equal(page.status, 502);
      assert.match(visibleText(page.html), /GitHub could not complete the sign-in: 127\.0\.0\.1:\d+ could not be reached/);
    } finally {
      await server.stop();
      await github.close();
    }
  });

  it('an API URL that answers something other than GitHub\'s API (here the web site\'s 404) gives a 502 page', async () => {
    const { server, github } = await start({}, [OCTOCAT], (fake) => ({ GITHUB_API_URL: fake.baseUrl }));
    try {
      const page = await callbackPage(server, github);
      assert.equal(page.status, 502);
      assert.match(visibleText(page.html), /GitHub could not complete the sign-in: .*(HTTP 404|not JSON)/);
    } finally {
      await server.stop();
      await github.close();
    }
  });

  it('a GitHub API that never answers gives a 502 page after the 10 s timeout, not a hung browser', async () => {
    const hanging = http.createServer(() => { /* never answers */ });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const { server, github } = await start({ GITHUB_API_URL: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/api/v3` });
    try {
      const started = Date.now();
      const page = await callbackPage(server, github);
      assert.equal(page.status, 502);
      assert.match(visibleText(page.html), /did not answer within 10 s/);
      assert.ok(Date.now() - started < 15_000);
    } finally {
      hanging.closeAllConnections();
      hanging.close();
      await server.stop();
      await github.close();
    }
  });

  it('a wrong client secret (GitHub\'s HTTP-200 error body) gives a 502 page naming GitHub\'s error', async () => {
    const { server, github } = await start({ GITHUB_CLIENT_SECRET: 'not-the-secret' });
    try {
      const page = await callbackPage(server, github);
      assert.equal(page.status, 502);
      assert.match(visibleText(page.html), /incorrect_client_credentials/);
      assert.ok(!server.output().includes('not-the-secret'), 'the secret is not logged');
    } finally {
      await server.stop();
      await github.close();
    }
  });
});
