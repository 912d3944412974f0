import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from '../../src/storage/sqlite/database.js';
import type { FakeGitHub } from '../support/fake-github.js';
import { asPage, FormBrowser, formWithAction, type Page } from '../support/form-browser.js';
import { parseForms } from '../support/forms.js';
import { mcpRequest, openSession, RawOAuthClient, toolsCallMessage, tokensOf } from '../support/raw-oauth.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import type { UpstreamOidc } from '../support/upstream-oidc.js';
import { allow, atUpstream, backAtCallback, clickUpstreamButton, signInThroughUpstream } from '../support/upstream-flow.js';
import { withGitHubAndOidc } from '../support/upstream-servers.js';

/**
 * The checklist items about an upstream identity provider (docs/security.md C1, C8, C9, T2, T3),
 * against a server with both GitHub and an OIDC provider configured, each a real local server.
 */

describe('security checklist: upstream sign-in', () => {
  let server: ServerProcess;
  let github: FakeGitHub;
  let upstream: UpstreamOidc;
  let db: Database.Database;
  before(async () => {
    const setup = await withGitHubAndOidc([{ login: 'octocat', name: 'The Octocat' }], [{ sub: 'alice', email: 'alice@example.com', email_verified: true, name: 'Alice' }], { env: { OIDC_NAME: 'Test IdP' } });
    ({ github, oidc: upstream } = setup);
    server = await startServerProcess(setup.options);
    db = new Database(path.join(server.dataDir, DATABASE_FILE), { readonly: true, fileMustExist: true });
    github.signInAs('octocat');
    upstream.signInAs('alice');
  });
  after(async () => {
    db?.close();
    await server?.stop();
    await github?.close();
    await upstream?.close();
  });

  const statesStored = () => (db.prepare('SELECT COUNT(*) AS n FROM upstream_states').get() as { n: number }).n;
  const upstreamRequests = () => github.requests.length + upstream.requests.length;

  it('[C1] GET /auth for a fresh DCR client shows this server\'s sign-in page and reaches no upstream; the upstream is reached only when the person clicks its button, and this server\'s consent page follows its callback before the client gets anything', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const authRequest = client.authorizationRequest();
    const browser = new FormBrowser(server.url);
    const requestsBefore = upstreamRequests();
    const statesBefore = statesStored();
    // Opening /auth (and the page again, as a reload or a prefetch would) goes nowhere upstream.
    const login = asPage(await browser.open(authRequest.url));
    asPage(await browser.open(login.url));
    assert.equal(login.url.origin, server.url);
    assert.ok(parseForms(login.html).some((form) => form.action.endsWith('/upstream/github')));
    assert.ok(parseForms(login.html).some((form) => form.action.endsWith('/upstream/oidc')));
    assert.equal(upstreamRequests(), requestsBefore, 'no request to GitHub or the OIDC provider before the click');
    assert.equal(statesStored(), statesBefore, 'no upstream state before the click');

    for (const provider of ['github', 'oidc'] as const) {
      const person = new FormBrowser(server.url);
      const { authorizeUrl } = await clickUpstreamButton(person, client.authorizationRequest().url, provider);
      assert.notEqual(authorizeUrl.origin, server.url, `${provider}: the click leads upstream`);
      const consent = await backAtCallback(person, await atUpstream(authorizeUrl, server.url));
      assert.equal(consent.kind, 'page', `${provider}: the callback shows a page, it does not go to the client`);
      const page = consent as Page;
      assert.equal(page.status, 200);
      assert.ok(parseForms(page.html).some((form) => form.action.endsWith('/confirm')), `${provider}: this server's consent page`);
      const callback = await allow(person, page);
      assert.equal(`${callback.origin}${callback.pathname}`, client.redirectUri, `${provider}: only after Allow, to the client`);
      assert.ok(callback.searchParams.get('code'));
    }
  });

  it('[C8] the upstream state is random, made only on the button\'s POST, stored as a hash for 10 minutes, checked exactly at the callback and single-use', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const states: string[] = [];
    const callbacks: { browser: FormBrowser; url: URL }[] = [];
    for (let i = 0; i < 2; i += 1) {
      const browser = new FormBrowser(server.url);
      const before = Date.now();
      const { authorizeUrl } = await clickUpstreamButton(browser, client.authorizationRequest().url, 'github');
      const state = authorizeUrl.searchParams.get('state')!;
      assert.match(state, /^[A-Za-z0-9_-]{43}$/, '256 random bits');
      states.push(state);
      const rows = db.prepare('SELECT state_hash, expires_at FROM upstream_states WHERE state_hash = ?').all(state) as unknown[];
      assert.equal(rows.length, 0, 'the state itself is not stored');
      const newest = db.prepare('SELECT expires_at FROM upstream_states ORDER BY expires_at DESC LIMIT 1').get() as { expires_at: number };
      assert.ok(Math.abs(newest.expires_at - before - 600_000) < 5_000, `expires about 10 minutes after it was made (${newest.expires_at - before} ms)`);
      callbacks.push({ browser, url: await atUpstream(authorizeUrl, server.url) });
    }
    assert.notEqual(states[0], states[1]);

    const { browser, url } = callbacks[0]!;
    const altered = new URL(url);
    const state = altered.searchParams.get('state')!;
    altered.searchParams.set('state', `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`);
    assert.equal(asPage(await browser.open(altered)).status, 400, 'one character changed');
    const upper = new URL(url);
    upper.searchParams.set('state', state.toUpperCase());
    assert.equal(asPage(await browser.open(upper)).status, 400, 'case changed');

    formWithAction(asPage(await browser.open(url)), '/confirm');
    const replay = asPage(await browser.open(url));
    assert.equal(replay.status, 400, 'a replay');
    assert.match(replay.html, /Sign-in expired/);
  });

  it('[C9] the upstream callback arriving in a browser without the binding cookie set with the state is refused with 403, and the state stays usable by the browser that started it', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    for (const provider of ['github', 'oidc'] as const) {
      const browser = new FormBrowser(server.url);
      const { authorizeUrl } = await clickUpstreamButton(browser, client.authorizationRequest().url, provider);
      const callback = await atUpstream(authorizeUrl, server.url);
      const elsewhere = await fetch(callback, { redirect: 'manual' });
      assert.equal(elsewhere.status, 403, provider);
      assert.equal(elsewhere.headers.get('location'), null, `${provider}: no redirect`);
      assert.deepEqual(elsewhere.headers.getSetCookie(), [], `${provider}: no session for the other browser`);
      formWithAction(asPage(await browser.open(callback)), '/confirm');
    }
  });

  it('[T2] a real GitHub access token, issued for this very sign-in, is refused at /mcp with 401 invalid_token', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const authRequest = client.authorizationRequest();
    const callback = await signInThroughUpstream(new FormBrowser(server.url), authRequest.url, 'github', server.url);
    const ours = tokensOf(await client.exchange(callback.searchParams.get('code')!, authRequest.verifier));
    const githubToken = github.tokensOf('octocat').at(-1)!;
    assert.notEqual(githubToken, ours.access_token);
    for (const token of [githubToken, `gho_${githubToken}`]) {
      const reply = await mcpRequest(server, token, toolsCallMessage(1, 'get_user_profile'));
      assert.equal(reply.status, 401);
      assert.match(reply.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    }
    assert.equal((await mcpRequest(server, ours.access_token, toolsCallMessage(1, 'get_user_profile'), { sessionId: await openSession(server, ours.access_token) })).status, 200);
  });

  it('[T3] get_user_profile calls GitHub\'s API with the GitHub token this server holds, never with the MCP client\'s bearer token', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const authRequest = client.authorizationRequest();
    const callback = await signInThroughUpstream(new FormBrowser(server.url), authRequest.url, 'github', server.url);
    const ours = tokensOf(await client.exchange(callback.searchParams.get('code')!, authRequest.verifier));
    const from = github.requests.length;
    const sessionId = await openSession(server, ours.access_token);
    const reply = await mcpRequest(server, ours.access_token, toolsCallMessage(2, 'get_user_profile'), { sessionId });
    assert.equal((reply.message?.result as { structuredContent?: { login?: string } }).structuredContent?.login, 'octocat');
    const calls = github.requests.slice(from);
    assert.ok(calls.some((call) => call.url.pathname.endsWith('/user')), 'GitHub was called');
    for (const call of calls) {
      assert.ok(github.tokensOf('octocat').includes(call.token ?? ''), `${call.url.pathname} with a GitHub token`);
      assert.ok(!JSON.stringify(call.headers).includes(ours.access_token), 'the MCP token in no header');
      assert.ok(!call.url.href.includes(ours.access_token) && !call.body.includes(ours.access_token), 'nor in the URL or body');
    }
    for (const call of [...github.requests, ...upstream.requests]) {
      assert.ok(!JSON.stringify(call.headers).includes(ours.access_token), 'no upstream ever sees an MCP token');
    }
  });

  it('hostile or malformed input to the callbacks and the buttons\' POST gets a 4xx HTML page, never a 500 or a redirect', async () => {
    // A real sign-in in flight, so some requests carry a valid binding cookie and state.
    const client = await RawOAuthClient.registerLoopback(server);
    const browser = new FormBrowser(server.url);
    const login = asPage(await browser.open(client.authorizationRequest().url));
    const button = formWithAction(login, '/upstream/github');
    const { authorizeUrl } = await clickUpstreamButton(browser, client.authorizationRequest().url, 'github');
    const state = authorizeUrl.searchParams.get('state')!;
    const cookie = browser.cookieHeader(new URL('/github/callback', server.url));
    const long = 'x'.repeat(5000);
    const gets = [
      '/github/callback', '/oidc/callback', '/github/callback?state=', '/github/callback?state[]=a&code=b', `/github/callback?state=${state}&state=${state}&code=c`,
      `/github/callback?state=${long}&code=c`, '/github/callback?state=%ZZ%00&code=%E0%A4%A', '/oidc/callback?error=<script>alert(1)</script>&state=x',
      `/github/callback?state=${state}&code=${long}`,
    ];
    const answers: { what: string; status: number; type: string; location: string | null }[] = [];
    for (const path of gets) {
      const answer = await fetch(new URL(path, server.url), { redirect: 'manual', headers: { cookie } });
      await answer.arrayBuffer();
      answers.push({ what: `GET ${path.slice(0, 80)}`, status: answer.status, type: answer.headers.get('content-type') ?? '', location: answer.headers.get('location') });
    }
    const uid = button.action.split('/')[2]!;
    const interactionCookie = browser.cookieHeader(new URL(button.action, server.url));
    const posts: [string, string, string][] = [
      [`/interaction/${uid}/upstream/github`, 'application/json', JSON.stringify({ csrf: button.fields.csrf })],
      [`/interaction/${uid}/upstream/github`, 'application/x-www-form-urlencoded', `csrf[]=${button.fields.csrf}&csrf=x`],
      [`/interaction/${uid}/upstream/github`, 'application/x-www-form-urlencoded', `csrf=${'a'.repeat(20_000)}`],
      [`/interaction/${uid}/upstream/github`, 'text/plain', 'csrf'],
      [`/interaction/${uid}/upstream/nope`, 'application/x-www-form-urlencoded', `csrf=${button.fields.csrf}`],
      [`/interaction/${uid}/upstream/__proto__`, 'application/x-www-form-urlencoded', `csrf=${button.fields.csrf}`],
      ['/interaction/not-an-interaction/upstream/oidc', 'application/x-www-form-urlencoded', `csrf=${button.fields.csrf}`],
      [`/interaction/${uid}/upstream/oidc`, 'application/x-www-form-urlencoded', '%%%=%%%&csrf'],
    ];
    for (const [path, type, body] of posts) {
      const answer = await fetch(new URL(path, server.url), { method: 'POST', redirect: 'manual', headers: { 'content-type': type, origin: server.url, cookie: interactionCookie }, body });
      await answer.arrayBuffer();
      answers.push({ what: `POST ${path} (${type}) ${body.slice(0, 40)}`, status: answer.status, type: answer.headers.get('content-type') ?? '', location: answer.headers.get('location') });
    }
    const wrong = answers.filter((answer) => answer.status < 400 || answer.status >= 500 || !answer.type.startsWith('text/html') || answer.location !== null);
    assert.deepEqual(wrong, [], JSON.stringify(wrong, null, 1));
    assert.doesNotMatch(server.output(), /http\.unhandled_error/);
  });
});

