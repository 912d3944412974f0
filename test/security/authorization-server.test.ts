import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from '../../src/storage/sqlite/database.js';
import { asPage, formWithAction, FormBrowser } from '../support/form-browser.js';
import { parseForms, visibleText } from '../support/forms.js';
import { freePort } from '../support/free-port.js';
import { signInToConsent } from '../support/person-at-browser.js';
import { RawOAuthClient, request, tokensOf, type RawResponse, type ServerLike } from '../support/raw-oauth.js';
import { recordSignIn } from '../support/recorded-sign-in.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { assertOAuthError } from '../support/oauth-assertions.js';

/**
 * The security checklist's authorization-server items that no other test file already checks
 * (docs/security.md names, item by item, where each one is checked).
 */

const OTHER_RESOURCE = 'https://other.example/mcp';

/** A 400 page for the person, with no redirect anywhere. */
function assertRefusedWithoutRedirect(answer: RawResponse, label: string): void {
  assert.equal(answer.status, 400, `${label}: ${answer.status} ${answer.text.slice(0, 200)}`);
  assert.equal(answer.headers.get('location'), null, `${label}: never redirected`);
  assert.match(answer.headers.get('content-type') ?? '', /^text\/html/, `${label}: a page`);
}

/** The headers every sign-in and consent page carries against framing and referrer leaks. */
function assertPageProtected(headers: Headers, label: string): void {
  assert.match(headers.get('content-security-policy') ?? '', /(^|;)\s*frame-ancestors 'none'\s*(;|$)/, `${label}: CSP frame-ancestors 'none'`);
  assert.equal(headers.get('x-frame-options'), 'DENY', `${label}: X-Frame-Options`);
  assert.equal(headers.get('referrer-policy'), 'no-referrer', `${label}: Referrer-Policy`);
}

describe('security checklist: authorization server', () => {
  let server: ServerProcess;
  let metadata: Record<string, unknown>;
  before(async () => {
    server = await startServerProcess();
    metadata = (await request(`${server.url}/.well-known/oauth-authorization-server`)).json!;
  });
  after(async () => {
    await server?.stop();
  });

  const newClient = (target: ServerLike = server) => RawOAuthClient.registerLoopback(target);
  /** A web client (https redirect URI): its consent is remembered, unlike a native app's. */
  const newWebClient = (name: string) => RawOAuthClient.register(server, ['https://app.example/cb'], { client_name: name });

  it('[C1] GET /auth for a freshly registered client is answered with this server\'s own sign-in, then consent page: every redirect stays on this server until Allow, and only then leaves, for the client\'s redirect URI', async () => {
    const client = await newClient();
    const authRequest = client.authorizationRequest();
    const { steps, callback } = await recordSignIn(server.url, authRequest.url, ADMIN);
    const consentIndex = steps.findIndex((step) => parseForms(step.html).some((form) => form.action.endsWith('/confirm')));
    assert.ok(consentIndex > 0, 'a consent page was shown');
    for (const step of steps.slice(0, consentIndex + 1)) {
      assert.equal(step.url.origin, server.url, `${step.method} ${step.url.href}: on this server`);
      const location = step.headers.get('location');
      if (location) assert.equal(new URL(location, server.url).origin, server.url, `before Allow, ${step.url.pathname} redirects only within this server: ${location}`);
    }
    assert.equal(steps[consentIndex]!.status, 200);
    assert.equal(`${callback.origin}${callback.pathname}`, client.redirectUri, 'after Allow, to the client');
    assert.equal(callback.searchParams.get('state'), authRequest.state);
  });

  it('[C2] consent is remembered per user and client: a web client approved once gets its code with no page, while a second client for the same user in the same browser is shown the consent page', async () => {
    const first = await newWebClient('First web app');
    const second = await newWebClient('Second web app');
    const browser = new FormBrowser(server.url);
    await first.signIn(browser, ADMIN);

    const again = await browser.open(first.authorizationRequest().url);
    assert.equal(again.kind, 'left', 'the approved client is sent straight back');
    assert.ok(again.kind === 'left' && again.location.searchParams.get('code'), 'with a code');

    const other = asPage(await browser.open(second.authorizationRequest().url));
    assert.equal(other.status, 200);
    assert.ok(parseForms(other.html).some((form) => form.action.endsWith('/confirm')), 'the second client is asked for consent');
    assert.ok(!parseForms(other.html).some((form) => form.action.endsWith('/login')), 'without signing in again: the consent is what is per client');
    assert.match(visibleText(other.html), /Second web app/);
  });

  it('[C3] the consent page names the client, each permission in words, and the host and port the result goes to', async () => {
    const port = await freePort();
    const client = await RawOAuthClient.register(server, [`http://127.0.0.1:${port}/callback`], { client_name: 'Consent Check App' });
    const consent = await signInToConsent(new FormBrowser(server.url), client.authorizationRequest().url, ADMIN);
    const text = visibleText(consent.html);
    assert.match(text, /Consent Check App/, 'the client name');
    assert.match(text, /Generate UUIDs for you/, 'uuid:generate in words');
    assert.match(text, /See your profile/, 'profile:read in words');
    assert.ok(text.includes(`127.0.0.1:${port}`), `where the code goes: ${text}`);
  });

  it('[C4][B11][B12] the sign-in page, the consent page and the authorization error page send frame-ancestors \'none\', X-Frame-Options: DENY and Referrer-Policy: no-referrer, as does the redirect that carries the code', async () => {
    const client = await newClient();
    const { steps } = await recordSignIn(server.url, client.authorizationRequest().url, ADMIN);
    const pages = steps.filter((step) => step.status === 200);
    assert.ok(pages.some((page) => parseForms(page.html).some((form) => form.action.endsWith('/login'))), 'the sign-in page was seen');
    assert.ok(pages.some((page) => parseForms(page.html).some((form) => form.action.endsWith('/confirm'))), 'the consent page was seen');
    for (const page of pages) assertPageProtected(page.headers, `${page.url.pathname}`);
    const withCode = steps.at(-1)!;
    assert.match(withCode.headers.get('location') ?? '', /[?&]code=/, 'the last answer carries the code');
    assert.equal(withCode.headers.get('referrer-policy'), 'no-referrer', 'the redirect with the code');

    const errorPage = await request(client.authorizationRequest({ redirectUri: 'https://evil.example/cb' }).url);
    assert.equal(errorPage.status, 400);
    assertPageProtected(errorPage.headers, 'authorization error page');
  });

  it('[C9] a sign-in page opened in another browser (without the interaction cookie) is refused with a 400 "Sign-in expired" page, its form post too (no redirect, no session); the browser that started it still completes', async () => {
    const client = await newClient();
    const browser = new FormBrowser(server.url);
    const authRequest = client.authorizationRequest();
    const login = asPage(await browser.open(authRequest.url));
    const form = formWithAction(login, '/login');

    const elsewhere = await request(login.url);
    assertRefusedWithoutRedirect(elsewhere, 'GET from another browser');
    assert.match(visibleText(elsewhere.text), /Sign-in expired.*another browser/);

    const posted = await request(new URL(form.action, login.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.url },
      body: new URLSearchParams({ ...form.fields, username: ADMIN.username, password: ADMIN.password }),
    });
    assertRefusedWithoutRedirect(posted, 'POST with the right CSRF token and password from another browser');
    assert.deepEqual(posted.headers.getSetCookie(), [], 'no session cookie for the other browser');

    const consent = asPage(await browser.submit(login, form, { username: ADMIN.username, password: ADMIN.password }));
    const done = await browser.submit(consent, formWithAction(consent, '/confirm'));
    assert.equal(done.kind, 'left', 'the browser with the cookie completes the sign-in');
  });

  it('[B10] every redirect from the sign-in post to the client is 302 or 303, never 307 or 308 (which would re-post the password or consent form)', async () => {
    const client = await newClient();
    const { steps } = await recordSignIn(server.url, client.authorizationRequest().url, ADMIN);
    const redirects = steps.filter((step) => step.headers.get('location'));
    assert.ok(redirects.some((step) => step.method === 'POST'), 'the form posts were answered with redirects');
    for (const step of redirects) assert.ok(step.status === 302 || step.status === 303, `${step.method} ${step.url.pathname}: ${step.status}`);
  });

  it('[B3] response_type=token is sent back to the client with error=unsupported_response_type and no token; the metadata lists response_types_supported ["code"] and no implicit grant', async () => {
    assert.deepEqual(metadata.response_types_supported, ['code']);
    assert.ok(!(metadata.grant_types_supported as string[]).includes('implicit'), `grant_types_supported: ${String(metadata.grant_types_supported)}`);
    const client = await newClient();
    const authRequest = client.authorizationRequest({ extra: { response_type: 'token' } });
    const answer = await request(authRequest.url);
    assert.ok(answer.status === 302 || answer.status === 303, `${answer.status} ${answer.text.slice(0, 200)}`);
    const location = new URL(answer.headers.get('location') ?? 'missing:');
    assert.equal(`${location.origin}${location.pathname}`, client.redirectUri);
    const returned = new URLSearchParams(location.hash.slice(1) || location.search.slice(1));
    assert.equal(returned.get('error'), 'unsupported_response_type');
    assert.equal(returned.get('access_token'), null);
    assert.equal(returned.get('state'), authRequest.state);
  });

  it('[B4] grant_type=password (ROPC) gets 400 unsupported_grant_type, even with the right password; the metadata does not list it', async () => {
    assert.ok(!(metadata.grant_types_supported as string[]).includes('password'));
    const client = await newClient();
    assertOAuthError(await client.token({ grant_type: 'password', username: ADMIN.username, password: ADMIN.password, scope: 'uuid:generate' }), 400, 'unsupported_grant_type');
  });

  it('[B5] a code lives at most 10 minutes (60 s as stored), and is bound to its client and redirect URI: another client, or another registered redirect URI, gets 400 invalid_grant', async () => {
    const port = await freePort();
    const client = await RawOAuthClient.register(server, [`http://127.0.0.1:${port}/callback`, `http://127.0.0.1:${port}/other`]);
    const thief = await newClient();

    const first = await client.signIn(new FormBrowser(server.url), ADMIN);
    const database = new Database(path.join(server.dataDir, DATABASE_FILE), { readonly: true, fileMustExist: true });
    try {
      const rows = database.prepare("SELECT payload FROM oidc_models WHERE kind = 'AuthorizationCode'").all() as Array<{ payload: string }>;
      assert.ok(rows.length > 0, 'the code is stored');
      for (const row of rows) {
        const { iat, exp } = JSON.parse(row.payload) as { iat: number; exp: number };
        assert.ok(exp - iat <= 600, `a code lives ${exp - iat} s`);
        assert.equal(exp - iat, 60);
      }
    } finally {
      database.close();
    }
    assertOAuthError(await thief.token({ grant_type: 'authorization_code', code: first.code, code_verifier: first.request.verifier, redirect_uri: client.redirectUri }), 400, 'invalid_grant', 'another client');

    const second = await client.signIn(new FormBrowser(server.url), ADMIN);
    assertOAuthError(await client.exchange(second.code, second.request.verifier, { redirect_uri: `http://127.0.0.1:${port}/other` }), 400, 'invalid_grant', 'another registered redirect URI');

    // Control: a code, exchanged by its own client with its redirect URI, works.
    const third = await client.signIn(new FormBrowser(server.url), ADMIN);
    tokensOf(await client.exchange(third.code, third.request.verifier));
  });

  it('[B6] a refresh token is bound to its client, scope and resource: another client gets 400 invalid_grant, a wider scope 400 invalid_scope, another resource 400 invalid_target; its own client gets a new, rotated refresh token', async () => {
    const client = await newClient();
    const thief = await newClient();
    const tokens = await client.authorize(new FormBrowser(server.url), ADMIN, { scope: 'uuid:generate' });
    assertOAuthError(await thief.refresh(tokens.refresh_token), 400, 'invalid_grant', 'another client');
    assertOAuthError(await client.refresh(tokens.refresh_token, { scope: 'uuid:generate profile:read' }), 400, 'invalid_scope', 'a wider scope');
    assertOAuthError(await client.refresh(tokens.refresh_token, { resource: OTHER_RESOURCE }), 400, 'invalid_target', 'another resource');
    const renewed = tokensOf(await client.refresh(tokens.refresh_token));
    assert.notEqual(renewed.refresh_token, tokens.refresh_token, 'rotated');
    assert.equal(renewed.scope, 'uuid:generate', 'the same scope');
  });

  it('[B8] the authorization response carries iss, byte-identical to the issuer, and the metadata advertises authorization_response_iss_parameter_supported: true', async () => {
    assert.equal(metadata.authorization_response_iss_parameter_supported, true);
    assert.equal(metadata.issuer, server.url);
    const client = await newClient();
    const { callback } = await client.signIn(new FormBrowser(server.url), ADMIN);
    assert.equal(callback.searchParams.get('iss'), server.url);
  });

  it('[B9] a request with an unknown client_id, or an unregistered redirect_uri, is refused on a 400 page without a redirect, even when it has another error the client would otherwise be told of (no PKCE)', async () => {
    const client = await newClient();
    const unknown = client.authorizationRequest({ redirectUri: 'https://evil.example/cb' }).url;
    unknown.searchParams.set('client_id', 'never-registered');
    assertRefusedWithoutRedirect(await request(unknown), 'unknown client_id');
    const unregistered = client.authorizationRequest({ redirectUri: 'https://evil.example/cb', pkce: 'none' }).url;
    assertRefusedWithoutRedirect(await request(unregistered), 'unregistered redirect_uri without PKCE');
    // Control: with its registered redirect URI, the missing PKCE is the client's to be told of.
    const told = await request(client.authorizationRequest({ pkce: 'none' }).url);
    assert.equal(told.status, 303);
    assert.equal(new URL(told.headers.get('location') ?? 'missing:').searchParams.get('error'), 'invalid_request');
  });

  it('[M1][R5] the protected-resource metadata lists only uuid:generate and profile:read (no omnibus scope, no offline_access), at every PRM URL; the authorization server advertises offline_access', async () => {
    for (const prm of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource/sse']) {
      const answer = await request(`${server.url}${prm}`);
      assert.equal(answer.status, 200, prm);
      assert.deepEqual(answer.json?.scopes_supported, ['uuid:generate', 'profile:read'], prm);
    }
    assert.ok((metadata.scopes_supported as string[]).includes('offline_access'), `AS scopes_supported: ${String(metadata.scopes_supported)}`);
    for (const omnibus of ['*', 'all', 'mcp', 'admin']) assert.ok(!(metadata.scopes_supported as string[]).includes(omnibus), `no ${omnibus} scope at the AS either`);
  });
});
