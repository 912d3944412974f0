import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UPSTREAM_STARTS_PER_ADDRESS } from '../../src/authorization/interactions.js';
import { DATABASE_FILE } from '../../src/storage/sqlite/database.js';
import { asPage, FormBrowser, formWithAction } from '../support/form-browser.js';
import { visibleText } from '../support/forms.js';
import { freePort } from '../support/free-port.js';
import { RawOAuthClient } from '../support/raw-oauth.js';
import { restartServer, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { eventually } from '../support/time-limit.js';
import { startMisbehavingOidc, type IdTokenFlaw } from '../support/misbehaving-oidc.js';
import type { UpstreamOidc, UpstreamOidcAccount } from '../support/upstream-oidc.js';
import { allow, atUpstream, backAtCallback, clickUpstreamButton, authorizeThroughUpstream, throughUpstream, userProfileFor } from '../support/upstream-flow.js';
import { OIDC_CLIENT, withUpstreamOidc } from '../support/upstream-servers.js';

const ACCOUNTS: UpstreamOidcAccount[] = [
  { sub: 'alice-sub', email: 'Alice@Example.com', email_verified: true, name: 'Alice Liddell', groups: ['mcp-users', 'staff'] },
  { sub: 'bob-sub', email: 'bob@example.com', email_verified: false, name: 'Bob', groups: ['mcp-users'] },
  { sub: 'carol-sub', email: 'carol@elsewhere.org', email_verified: true, name: 'Carol', groups: ['staff'] },
];

/** The provider of ACCOUNTS, and our server signing people in with it (as "Test IdP"); `env` is what to restart it with. */
async function start(env: Record<string, string> = {}): Promise<{ server: ServerProcess; upstream: UpstreamOidc; env: Record<string, string> }> {
  const { upstream, options } = await withUpstreamOidc(ACCOUNTS, { env: { OIDC_NAME: 'Test IdP', ...env } });
  return { server: await startServerProcess(options), upstream, env: options.env };
}

describe('sign in with an OpenID Connect provider', () => {
  let server: ServerProcess;
  let upstream: UpstreamOidc;
  let env: Record<string, string>;
  before(async () => {
    ({ server, upstream, env } = await start());
  });
  after(async () => {
    await server?.stop();
    await upstream?.close();
  });

  it('shows "Sign in with {OIDC_NAME}" and sends the browser to the discovered authorization endpoint with PKCE S256, state and nonce', async () => {
    const browser = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const { login, authorizeUrl } = await clickUpstreamButton(browser, client.authorizationRequest().url, 'oidc');
    assert.match(login.html, />Sign in with Test IdP<\/button>/);
    assert.equal(authorizeUrl.origin, upstream.issuer);
    const params = authorizeUrl.searchParams;
    assert.equal(params.get('client_id'), OIDC_CLIENT.clientId);
    assert.equal(params.get('redirect_uri'), `${server.url}/oidc/callback`);
    assert.equal(params.get('response_type'), 'code');
    assert.equal(params.get('scope'), 'openid email profile');
    assert.equal(params.get('code_challenge_method'), 'S256');
    assert.ok((params.get('state') ?? '').length >= 22);
    assert.ok((params.get('nonce') ?? '').length >= 22);
  });

  it('signs in through the provider, then our consent, and get_user_profile returns the claims (iss and sub, e-mail, name, groups)', async () => {
    const tokens = (await authorizeThroughUpstream(server, upstream, 'oidc', 'alice-sub')).tokens;
    const result = await userProfileFor(server, tokens.access_token);
    assert.notEqual(result.isError, true, JSON.stringify(result));
    const profile = result.structuredContent!;
    assert.equal(profile.signedInWith, 'oidc');
    assert.equal(profile.issuer, upstream.issuer);
    assert.equal(profile.subject, 'alice-sub');
    assert.equal(profile.email, 'Alice@Example.com');
    assert.equal(profile.emailVerified, true);
    assert.equal(profile.name, 'Alice Liddell');
    const claims = profile.claims as Record<string, unknown>;
    assert.deepEqual(claims.groups, ['mcp-users', 'staff']);
    for (const tokenClaim of ['iat', 'exp', 'nonce', 'at_hash', 'aud', 'azp']) assert.equal(claims[tokenClaim], undefined, `${tokenClaim} left out`);
    assert.ok(!JSON.stringify(tokens).includes('eyJ'), 'no upstream JWT (ID token) reaches the MCP client');
  });

  it('the username is the verified e-mail, else oidc:{sub}', async () => {
    upstream.signInAs('bob-sub');
    const browser = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const consent = asPage(await throughUpstream(browser, client.authorizationRequest().url, 'oidc', server.url));
    assert.match(visibleText(consent.html), /Bob \(oidc:bob-sub\)/);
    const aliceTokens = (await authorizeThroughUpstream(server, upstream, 'oidc', 'alice-sub')).tokens;
    assert.ok(aliceTokens.access_token);
  });

  it('access_denied at the provider reaches the MCP client as error=access_denied', async () => {
    upstream.signInAs('alice-sub');
    upstream.denyNext();
    const browser = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const authRequest = client.authorizationRequest();
    const visit = await throughUpstream(browser, authRequest.url, 'oidc', server.url);
    assert.equal(visit.kind, 'left');
    if (visit.kind !== 'left') return;
    assert.equal(visit.location.origin + visit.location.pathname, client.redirectUri);
    assert.equal(visit.location.searchParams.get('error'), 'access_denied');
    assert.equal(visit.location.searchParams.get('state'), authRequest.state);
  });

  it('a replayed callback is refused with 400, and a callback without the binding cookie with 403', async () => {
    upstream.signInAs('alice-sub');
    const browser = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const { authorizeUrl } = await clickUpstreamButton(browser, client.authorizationRequest().url, 'oidc');
    const callback = await atUpstream(authorizeUrl, server.url);
    assert.equal(asPage(await new FormBrowser(server.url).open(callback)).status, 403);
    const consent = await backAtCallback(browser, callback);
    await allow(browser, consent);
    assert.equal(asPage(await backAtCallback(browser, callback)).status, 400);
  });

  it('a GitHub callback cannot spend an OIDC state', async () => {
    upstream.signInAs('alice-sub');
    const browser = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const { authorizeUrl } = await clickUpstreamButton(browser, client.authorizationRequest().url, 'oidc');
    const callback = await atUpstream(authorizeUrl, server.url);
    const wrongPath = new URL(callback);
    wrongPath.pathname = '/github/callback';
    assert.equal(asPage(await browser.open(wrongPath)).status, 404, 'GitHub is not configured here');
    formWithAction(asPage(await backAtCallback(browser, callback)), '/confirm');
  });

  it('the provider\'s access token (seen at its userinfo endpoint) is in no log line and not in clear in the database', async () => {
    await authorizeThroughUpstream(server, upstream, 'oidc', 'alice-sub');
    const bearer = upstream.requests.filter((entry) => entry.url.pathname.includes('/me') || entry.url.pathname.includes('userinfo'))
      .map((entry) => /^Bearer (.+)$/i.exec(String(entry.headers.authorization ?? ''))?.[1])
      .filter((token): token is string => token !== undefined);
    assert.ok(bearer.length > 0, `our server called userinfo with a bearer token: ${upstream.requests.map((entry) => entry.url.pathname).join(' ')}`);
    const output = server.output();
    assert.match(output, /upstream\.signed_in.*provider=oidc.*upstreamUser=alice-sub/);
    assert.doesNotMatch(output, /eyJ[A-Za-z0-9_-]{10,}\./, 'no JWT (ID token) in the output');
    for (const token of bearer) assert.ok(!output.includes(token), 'the access token is not logged');
    for (const file of [DATABASE_FILE, `${DATABASE_FILE}-wal`]) {
      const full = path.join(server.dataDir, file);
      if (!fs.existsSync(full)) continue;
      const bytes = fs.readFileSync(full);
      for (const token of bearer) assert.equal(bytes.indexOf(token), -1, `${file} holds no OIDC access token in clear`);
      assert.equal(bytes.indexOf('eyJ'), -1, `${file} holds no JWT in clear`);
    }
  });

  it('a restart keeps the link: the same person gets the same user id', async () => {
    const first = (await authorizeThroughUpstream(server, upstream, 'oidc', 'carol-sub')).tokens;
    const id = (await userProfileFor(server, first.access_token)).structuredContent!.id;
    server = await restartServer(server, { env });
    const second = (await authorizeThroughUpstream(server, upstream, 'oidc', 'carol-sub')).tokens;
    assert.equal((await userProfileFor(server, second.access_token)).structuredContent!.id, id);
  });
});

describe('who may sign in with OIDC', () => {
  let server: ServerProcess;
  let upstream: UpstreamOidc;
  before(async () => {
    ({ server, upstream } = await start({ OIDC_ALLOWED_EMAIL_DOMAINS: 'example.com', OIDC_REQUIRED_CLAIM: 'groups=mcp-users', LOCAL_ACCOUNTS: 'false' }));
  });
  after(async () => {
    await server?.stop();
    await upstream?.close();
  });

  const refusal = async (sub: string) => {
    upstream.signInAs(sub);
    const browser = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const authRequest = client.authorizationRequest();
    const page = asPage(await throughUpstream(browser, authRequest.url, 'oidc', server.url));
    const back = /href="([^"]+)"[^>]*>Back to the application/.exec(page.html)?.[1];
    assert.ok(back, 'a way back to the application');
    const visit = await browser.open(back.replace(/&amp;/g, '&'));
    assert.equal(visit.kind, 'left');
    assert.equal(visit.kind === 'left' && visit.location.searchParams.get('error'), 'access_denied');
    return page;
  };

  it('lets in a verified e-mail in an allowed domain with the required claim', async () => {
    await authorizeThroughUpstream(server, upstream, 'oidc', 'alice-sub');
  });

  it('refuses an unverified e-mail and one in another domain, each with a 403 page saying why', async () => {
    const bob = await refusal('bob-sub');
    assert.equal(bob.status, 403);
    assert.match(visibleText(bob.html), /bob@example\.com \(Test IdP\) may not sign in.*not verified/);
    const carol = await refusal('carol-sub');
    assert.equal(carol.status, 403);
    assert.match(visibleText(carol.html), /only e-mail addresses at example\.com/);
  });

  it('with LOCAL_ACCOUNTS=false the sign-in page has no password form and a password POST is refused', async () => {
    const browser = new FormBrowser(server.url);
    const client = await RawOAuthClient.registerLoopback(server);
    const login = asPage(await browser.open(client.authorizationRequest().url));
    assert.doesNotMatch(login.html, /action="[^"]*\/login"/);
    assert.doesNotMatch(login.html, /type="password"/);
    const form = formWithAction(login, '/upstream/oidc');
    const action = form.action.replace(/\/upstream\/oidc$/, '/login');
    const refused = asPage(await browser.submit(login, { ...form, action }, { username: 'admin', password: 'test-admin-password-1' }));
    assert.equal(refused.status, 403);
    assert.match(visibleText(refused.html), /Password sign-in is off/);
  });
});

describe('OIDC claim rule alone', () => {
  it('refuses an account whose claim does not contain the value', async () => {
    const { server, upstream } = await start({ OIDC_REQUIRED_CLAIM: 'groups=mcp-users' });
    try {
      upstream.signInAs('carol-sub');
      const browser = new FormBrowser(server.url);
      const client = await RawOAuthClient.registerLoopback(server);
      const page = asPage(await throughUpstream(browser, client.authorizationRequest().url, 'oidc', server.url));
      assert.equal(page.status, 403);
      assert.match(visibleText(page.html), /"groups" does not include "mcp-users"/);
    } finally {
      await server.stop();
      await upstream.close();
    }
  });
});

describe('OIDC provider unreachable', () => {
  it('the button gives a 502 page when discovery fails, never a 500', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const server = await startServerProcess({ env: { OIDC_ISSUER: dead, OIDC_CLIENT_ID: OIDC_CLIENT.clientId, OIDC_CLIENT_SECRET: OIDC_CLIENT.clientSecret } });
    try {
      const browser = new FormBrowser(server.url);
      const client = await RawOAuthClient.registerLoopback(server);
      const login = asPage(await browser.open(client.authorizationRequest().url));
      assert.match(login.html, new RegExp(`>Sign in with 127\\.0\\.0\\.1:\\d+</button>`), 'OIDC_NAME defaults to the issuer\'s host');
      const page = asPage(await browser.submit(login, formWithAction(login, '/upstream/oidc')));
      assert.equal(page.status, 502);
      assert.match(visibleText(page.html), /could not complete the sign-in: its discovery document could not be read/);
      // Each such click tries the provider again: they count towards the address's limit.
      const statuses: number[] = [];
      for (let i = 1; i <= UPSTREAM_STARTS_PER_ADDRESS; i += 1) statuses.push(asPage(await browser.submit(login, formWithAction(login, '/upstream/oidc'))).status);
      assert.deepEqual(statuses, [...Array(UPSTREAM_STARTS_PER_ADDRESS - 1).fill(502), 429]);
    } finally {
      await server.stop();
    }
  });
});

describe('an OIDC provider whose ID token is wrong', () => {
  it('is refused, whatever the flaw (nonce, issuer, audience, expiry, signature), with a 502 page saying why, never a 500 or a sign-in; a correct token from it signs in', async () => {
    const idp = await startMisbehavingOidc({ ...OIDC_CLIENT, sub: 'mallory', email: 'mallory@example.com' });
    const server = await startServerProcess({ env: { OIDC_ISSUER: idp.issuer, OIDC_CLIENT_ID: OIDC_CLIENT.clientId, OIDC_CLIENT_SECRET: OIDC_CLIENT.clientSecret, OIDC_NAME: 'Odd IdP' } });
    try {
      const callbackPage = async (flaw: IdTokenFlaw | undefined) => {
        idp.flaw = flaw;
        const client = await RawOAuthClient.registerLoopback(server);
        return asPage(await throughUpstream(new FormBrowser(server.url), client.authorizationRequest().url, 'oidc', server.url));
      };
      const expected: Record<IdTokenFlaw, RegExp> = { nonce: /"nonce"/, issuer: /"iss" \(issuer\)/, audience: /"aud" \(audience\)/, expired: /"exp" \(expiration time\)/, signature: /signature verification failed/ };
      for (const flaw of Object.keys(expected) as IdTokenFlaw[]) {
        const page = await callbackPage(flaw);
        const text = visibleText(page.html);
        assert.equal(page.status, 502, `${flaw}: ${text}`);
        assert.match(text, /Odd IdP could not complete the sign-in: its ID token was refused \((unexpected (JWT|ID Token)|JWT signature)/, flaw);
        assert.match(text, expected[flaw], `${flaw}: the page says what was wrong: ${text}`);
        assert.doesNotMatch(text, /Allow access/, flaw);
      }
      assert.equal(idp.issued.length, 5, 'each flawed token was received and refused');
      formWithAction(await callbackPage(undefined), '/confirm');
      await eventually(() => assert.match(server.output(), /upstream\.failed.*provider=oidc/), 5_000);
      const output = server.output();
      assert.doesNotMatch(output, /http\.unhandled_error/);
      for (const token of idp.issued) assert.ok(!output.includes(token.split('.')[1]!), 'no ID token in the log');
    } finally {
      await server.stop();
      await idp.close();
    }
  });
});

