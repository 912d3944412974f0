import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parseForms } from '../support/forms.js';
import { freePort } from '../support/free-port.js';
import { asPage, formWithAction, FormBrowser } from '../support/form-browser.js';
import { signInToConsent } from '../support/person-at-browser.js';
import { initializeMessage, mcpRequest, pkcePair, RawOAuthClient, registerRaw, request, resourceMetadataUrl, tokensOf, type RawResponse, type ServerLike } from '../support/raw-oauth.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sleep } from '../support/time-limit.js';
import { assertOAuthError } from '../support/oauth-assertions.js';

const OTHER_RESOURCE = 'https://other.example/mcp';

/** A fresh public loopback client per test: no remembered consent. */
const newClient = (server: ServerLike, path?: string) => RawOAuthClient.registerLoopback(server, {}, path);

/**
 * An authorization error sent back to the client (RFC 6749 §4.1.2.1): a redirect to exactly the
 * registered redirect URI with `error`, the request's `state`, and RFC 9207 `iss`.
 */
function assertErrorRedirect(answer: RawResponse, server: ServerLike, redirectUri: string, state: string, error: string): URL {
  assert.ok(answer.status === 302 || answer.status === 303, `expected a redirect back to the client, got ${answer.status}: ${answer.text.slice(0, 300)}`);
  const location = new URL(answer.headers.get('location') ?? 'missing:');
  assert.equal(`${location.origin}${location.pathname}`, redirectUri, 'sent back to the registered redirect URI');
  assert.equal(location.searchParams.get('error'), error, `error in ${location.href}`);
  assert.equal(location.searchParams.get('state'), state, 'state echoed');
  assert.equal(location.searchParams.get('iss'), server.url, 'RFC 9207 iss on the error response');
  assert.equal(location.searchParams.get('code'), null, 'no code on an error response');
  return location;
}

/** A token works at /mcp: initialize succeeds (the resource server accepts it). */
async function assertTokenAccepted(server: ServerLike, accessToken: string): Promise<void> {
  const reply = await mcpRequest(server, accessToken, initializeMessage(1));
  assert.equal(reply.status, 200, `the access token should work at /mcp: ${reply.status} ${reply.text}`);
  assert.ok(reply.message?.result, 'initialize result');
}

/** A token is refused at /mcp: 401, Bearer challenge with invalid_token and the resource metadata URL (RFC 6750 §3, RFC 9728 §5.1). */
async function assertTokenRefused(server: ServerLike, accessToken: string): Promise<void> {
  const reply = await mcpRequest(server, accessToken, initializeMessage(1));
  assert.equal(reply.status, 401, `the access token should be refused at /mcp: ${reply.status} ${reply.text}`);
  const challenge = reply.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer /);
  assert.match(challenge, /error="invalid_token"/);
  assert.ok(challenge.includes(`resource_metadata="${resourceMetadataUrl(server)}"`), challenge);
}

/** A form post from this browser that does not follow redirects, so the test sees the very answer. */
function postForm(browser: FormBrowser, server: ServerLike, action: string, fields: Record<string, string>): Promise<RawResponse> {
  const url = new URL(action, server.url);
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.url, cookie: browser.cookieHeader(url) },
    body: new URLSearchParams(fields),
  });
}

describe('authorization server refusals (default settings)', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  it('[B2] 1. an authorization request without PKCE (no code_challenge) is sent back to the client with error=invalid_request, state and iss', async () => {
    const client = await newClient(server);
    const authRequest = client.authorizationRequest({ pkce: 'none' });
    assert.equal(authRequest.url.searchParams.get('code_challenge'), null);
    const answer = await request(authRequest.url);
    const location = assertErrorRedirect(answer, server, client.redirectUri, authRequest.state, 'invalid_request');
    assert.match(location.searchParams.get('error_description') ?? '', /PKCE/i);
  });

  it('[B2] 2. an authorization request with code_challenge_method=plain is refused with error=invalid_request (only S256 is supported)', async () => {
    const client = await newClient(server);
    const authRequest = client.authorizationRequest({ pkce: 'plain' });
    const answer = await request(authRequest.url);
    const location = assertErrorRedirect(answer, server, client.redirectUri, authRequest.state, 'invalid_request');
    assert.match(location.searchParams.get('error_description') ?? '', /code_challenge_method/);
    const metadata = await request(`${server.url}/.well-known/oauth-authorization-server`);
    assert.deepEqual(metadata.json?.code_challenge_methods_supported, ['S256'], 'the metadata advertises S256 only');
  });

  it('[B2] 3. a code exchanged with the wrong code_verifier is refused with 400 invalid_grant', async () => {
    const client = await newClient(server);
    const { code } = await client.signIn(new FormBrowser(server.url), ADMIN);
    const answer = await client.exchange(code, pkcePair().verifier);
    assertOAuthError(answer, 400, 'invalid_grant');
    assert.equal(answer.json?.access_token, undefined);
  });

  it('[B2] a code issued for a request with a code_challenge, redeemed without a code_verifier (PKCE downgrade), is refused with 400 invalid_grant and no token', async () => {
    const client = await newClient(server);
    const { code, request: authRequest } = await client.signIn(new FormBrowser(server.url), ADMIN);
    assert.ok(authRequest.url.searchParams.get('code_challenge'), 'the authorization request carried a code_challenge');
    const answer = await client.token({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri });
    assertOAuthError(answer, 400, 'invalid_grant');
    assert.equal(answer.json?.access_token, undefined);
    assert.equal(answer.json?.refresh_token, undefined);
  });

  it('[B5] 4. a replayed authorization code is refused with 400 invalid_grant, and the tokens issued from its first use are revoked', async () => {
    const client = await newClient(server);
    const { code, request: authRequest } = await client.signIn(new FormBrowser(server.url), ADMIN);
    const tokens = tokensOf(await client.exchange(code, authRequest.verifier));
    await assertTokenAccepted(server, tokens.access_token);

    const replay = await client.exchange(code, authRequest.verifier);
    assertOAuthError(replay, 400, 'invalid_grant');
    assert.equal(replay.json?.access_token, undefined);

    await assertTokenRefused(server, tokens.access_token);
    assertOAuthError(await client.refresh(tokens.refresh_token), 400, 'invalid_grant');
  });

  it('[B1][C7][B9] 5. a loopback redirect URI registered without a port matches on any port (RFC 8252 §7.3); another path or another host gets a 400 page and no redirect', async () => {
    const client = await RawOAuthClient.register(server, ['http://127.0.0.1/cb']);

    // The registered URI, on the port the native app happens to listen on, is accepted (the browser
    // is sent on to sign in), so the 400s below are about the URI.
    const accepted = await request(client.authorizationRequest({ redirectUri: 'http://127.0.0.1:55555/cb' }).url);
    assert.equal(accepted.status, 303, `registered redirect_uri on another port accepted: ${accepted.status} ${accepted.text.slice(0, 200)}`);
    assert.match(accepted.headers.get('location') ?? '', /\/interaction\//);

    for (const redirectUri of ['http://127.0.0.1:55555/cb2', 'http://127.0.0.1/cb/', 'http://localhost:55555/cb', 'https://evil.example/cb']) {
      const answer = await request(client.authorizationRequest({ redirectUri }).url);
      assert.equal(answer.status, 400, `${redirectUri}: ${answer.status}`);
      assert.equal(answer.headers.get('location'), null, `${redirectUri}: never redirected`);
      assert.match(answer.headers.get('content-type') ?? '', /^text\/html/, `${redirectUri}: a page for the person`);
      assert.match(answer.text, /invalid_redirect_uri/, `${redirectUri}: the page names the problem`);
      assert.ok(!answer.text.includes('evil.example'), `${redirectUri}: no link to the unregistered URI`);
    }
  });

  it('[R4] 6. registration refuses javascript:, data:, fragment and non-loopback http redirect URIs with 400 invalid_redirect_uri', async () => {
    const port = await freePort();
    const cases: Array<[string, string[]]> = [
      ['javascript: alone', ['javascript:alert(1)']],
      ['javascript: next to a loopback URI', [`http://127.0.0.1:${port}/cb`, 'javascript:alert(document.cookie)']],
      ['data:', ['data:text/html,<script>alert(1)</script>']],
      ['a #fragment', [`http://127.0.0.1:${port}/cb#fragment`]],
      ['non-loopback http', ['http://evil.example/cb']],
    ];
    for (const [label, redirectUris] of cases) {
      const answer = await registerRaw(server, {
        client_name: `bad redirect: ${label}`,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      });
      assert.equal(answer.status, 400, `${label}: ${answer.status} ${answer.text}`);
      assert.equal(answer.json?.error, 'invalid_redirect_uri', `${label}: ${answer.text}`);
      assert.equal(answer.json?.client_id, undefined, `${label}: no client registered`);
      assert.match(answer.headers.get('cache-control') ?? '', /no-store/, `${label}: Cache-Control`);
    }
  });

  it('[B7] 7. a token for another resource is refused: resource=https://other.example/mcp at /auth → invalid_target redirect; at /token → 400 invalid_target', async () => {
    const client = await newClient(server);
    const authRequest = client.authorizationRequest({ resource: OTHER_RESOURCE });
    assertErrorRedirect(await request(authRequest.url), server, client.redirectUri, authRequest.state, 'invalid_target');

    const { code, request: good } = await client.signIn(new FormBrowser(server.url), ADMIN);
    const answer = await client.exchange(code, good.verifier, { resource: OTHER_RESOURCE });
    assertOAuthError(answer, 400, 'invalid_target');
    assert.equal(answer.json?.access_token, undefined);
  });

  it('11. a token request from a client_id that was never registered is refused with 401 invalid_client', async () => {
    const unknown = `never-registered-${randomBytes(8).toString('hex')}`;
    const fake = new RawOAuthClient(server, unknown, [`http://127.0.0.1:${await freePort()}/callback`], {});
    assertOAuthError(await fake.exchange('some-code', pkcePair().verifier), 401, 'invalid_client');
    assertOAuthError(await fake.refresh('some-refresh-token'), 401, 'invalid_client');
  });

  it('[C5] 12. a consent POST without the CSRF token, or with a wrong one, gets 403 and no redirect, records nothing, and the flow still completes with the right token', async () => {
    const client = await newClient(server);
    const browser = new FormBrowser(server.url);
    const authRequest = client.authorizationRequest();
    const consent = await signInToConsent(browser, authRequest.url, ADMIN);
    const confirm = formWithAction(consent, '/confirm');
    const rightToken = confirm.fields.csrf;
    assert.ok(rightToken, 'the consent form carries a CSRF token');

    const refusedWith = async (label: string, fields: Record<string, string>) => {
      const answer = await postForm(browser, server, confirm.action, fields);
      assert.equal(answer.status, 403, `${label}: ${answer.status} ${answer.text.slice(0, 200)}`);
      assert.equal(answer.headers.get('location'), null, `${label}: no redirect`);
      assert.match(answer.headers.get('content-type') ?? '', /^text\/html/, `${label}: a page`);
    };
    await refusedWith('no csrf field', {});
    await refusedWith('empty csrf', { csrf: '' });
    await refusedWith('made-up csrf', { csrf: randomBytes(32).toString('base64url') });

    // Another sign-in of the same person to the same client, in another browser: it shows its own
    // consent page, as it would even after an approval, since a client whose redirect URI is on this
    // machine (loopback) is asked on every authorization (RFC 8252 §8.6); and that interaction's
    // valid token does not work for this one.
    const otherBrowser = new FormBrowser(server.url);
    const otherConsent = await signInToConsent(otherBrowser, client.authorizationRequest().url, ADMIN);
    const otherToken = formWithAction(otherConsent, '/confirm').fields.csrf!;
    assert.notEqual(otherToken, rightToken);
    await refusedWith('the csrf of another interaction', { csrf: otherToken });

    // Still the consent prompt for this interaction: nothing was approved.
    const again = asPage(await browser.open(consent.url));
    assert.equal(again.status, 200);
    assert.ok(parseForms(again.html).some((form) => form.action.endsWith('/confirm')), 'still asking for consent');

    const done = await browser.submit(consent, confirm);
    assert.equal(done.kind, 'left', 'the right token completes the flow');
    const callback = (done as { location: URL }).location;
    assert.equal(`${callback.origin}${callback.pathname}`, client.redirectUri);
    assert.equal(callback.searchParams.get('state'), authRequest.state);
    const tokens = tokensOf(await client.exchange(callback.searchParams.get('code')!, authRequest.verifier));
    await assertTokenAccepted(server, tokens.access_token);
  });
});

describe('refresh token reuse (REFRESH_REUSE_GRACE=2s)', () => {
  const GRACE_MS = 2_000;
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess({ env: { REFRESH_REUSE_GRACE: '2s' } });
  });
  after(async () => {
    await server?.stop();
  });

  it('[B6] 10a. within the grace window a rotated refresh token works once more: two processes refreshing at once both stay signed in', async () => {
    const client = await newClient(server);
    const first = await client.authorize(new FormBrowser(server.url), ADMIN);

    // Two processes of the same app refresh with the same token at the same moment.
    const started = Date.now();
    const [a, b] = await Promise.all([client.refresh(first.refresh_token), client.refresh(first.refresh_token)]);
    const tokensA = tokensOf(a);
    const tokensB = tokensOf(b);
    assert.notEqual(tokensA.refresh_token, first.refresh_token, 'rotated');
    assert.notEqual(tokensA.refresh_token, tokensB.refresh_token);
    // And once more, one after the other, still inside the window.
    const c = await client.refresh(first.refresh_token);
    assert.ok(Date.now() - started < GRACE_MS, 'the test ran inside the grace window');
    const tokensC = tokensOf(c);

    for (const tokens of [tokensA, tokensB, tokensC]) await assertTokenAccepted(server, tokens.access_token);
    // Each process carries on with its own new refresh token.
    tokensOf(await client.refresh(tokensA.refresh_token));
    tokensOf(await client.refresh(tokensB.refresh_token));
  });

  it('[B6] 10b. after the grace window, reusing a rotated refresh token is refused with 400 invalid_grant and revokes the whole grant', async () => {
    const client = await newClient(server);
    const first = await client.authorize(new FormBrowser(server.url), ADMIN);
    const second = tokensOf(await client.refresh(first.refresh_token));
    await assertTokenAccepted(server, second.access_token);
    // The same person and client signed in again elsewhere: a separate grant.
    const elsewhere = await client.authorize(new FormBrowser(server.url), ADMIN);

    await sleep(GRACE_MS + 1_000);
    const reuse = await client.refresh(first.refresh_token);
    assertOAuthError(reuse, 400, 'invalid_grant');
    assert.equal(reuse.json?.access_token, undefined);

    // The whole grant is gone: the newest refresh token and every access token of it.
    assertOAuthError(await client.refresh(second.refresh_token), 400, 'invalid_grant');
    await assertTokenRefused(server, second.access_token);
    await assertTokenRefused(server, first.access_token);

    // The other grant of the same person and client is untouched by it.
    await assertTokenAccepted(server, elsewhere.access_token);
    tokensOf(await client.refresh(elsewhere.refresh_token));
  });
});
