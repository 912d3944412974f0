import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { visibleText } from '../support/forms.js';
import { freePort } from '../support/free-port.js';
import { formWithAction, FormBrowser } from '../support/form-browser.js';
import { codeFrom, consentPage, signInOnly } from '../support/page-steps.js';
import { RawOAuthClient, registerRaw, request, type RawResponse, type ServerLike } from '../support/raw-oauth.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sleep } from '../support/time-limit.js';
import { assertTokenAccepted, assertTokenRefused } from '../support/token-checks.js';

const WEB_REDIRECT = 'https://app.example/cb';

/** RFC 7592: the registration access token from the 201 answer, and the metadata a client sends back on PUT. */
function managementOf(client: RawOAuthClient): { token: string; metadata: Record<string, unknown> } {
  // The server's own fields are not the client's to send back (oidc-provider refuses them on PUT).
  const { registration_access_token: token, registration_client_uri: _uri, client_id_issued_at: _issued, client_secret_expires_at: _expires, ...metadata } = client.registration;
  assert.equal(typeof token, 'string', 'the 201 answer carries a registration_access_token');
  return { token: token as string, metadata };
}

function manage(server: ServerLike, client: RawOAuthClient, method: 'GET' | 'PUT' | 'DELETE', body?: Record<string, unknown>): Promise<RawResponse> {
  const { token } = managementOf(client);
  return request(`${server.url}/register/${encodeURIComponent(client.clientId)}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

/** A web client admin approved in `browser` (signed in there now). */
async function approvedWebClient(server: ServerLike, browser: FormBrowser): Promise<RawOAuthClient> {
  const client = await RawOAuthClient.register(server, [WEB_REDIRECT], { client_name: 'Web app' });
  const authRequest = client.authorizationRequest();
  const consent = consentPage(await signInOnly(browser, authRequest.url, ADMIN));
  codeFrom(await browser.submit(consent, formWithAction(consent, '/confirm')), WEB_REDIRECT, authRequest.state);
  // Approved: a new browser is let through after sign-in, without a consent page.
  const check = client.authorizationRequest();
  codeFrom(await signInOnly(new FormBrowser(server.url), check.url, ADMIN), WEB_REDIRECT, check.state);
  return client;
}

describe('client registration management (RFC 7592: PUT and DELETE /register/<client_id>)', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  it('PUT with a non-loopback http redirect URI is refused with 400 invalid_redirect_uri, and the registration stays as it was', async () => {
    const client = await RawOAuthClient.register(server, [WEB_REDIRECT]);
    const { metadata } = managementOf(client);
    const refused = await manage(server, client, 'PUT', { ...metadata, client_id: client.clientId, redirect_uris: ['http://evil.example/cb'] });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json?.error, 'invalid_redirect_uri', refused.text);
    assert.match(refused.headers.get('cache-control') ?? '', /no-store/);
    const current = await manage(server, client, 'GET');
    assert.equal(current.status, 200, current.text);
    assert.deepEqual(current.json?.redirect_uris, [WEB_REDIRECT]);
  });

  it('PUT with a valid change answers 200 with the new metadata, which the server then keeps', async () => {
    const client = await RawOAuthClient.register(server, [WEB_REDIRECT], { client_name: 'Web app' });
    const { metadata } = managementOf(client);
    const redirectUris = [WEB_REDIRECT, 'https://app.example/cb2'];
    const changed = await manage(server, client, 'PUT', { ...metadata, client_id: client.clientId, client_name: 'Renamed app', redirect_uris: redirectUris });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.json?.client_id, client.clientId);
    assert.equal(changed.json?.client_name, 'Renamed app');
    assert.deepEqual(changed.json?.redirect_uris, redirectUris);
    const current = await manage(server, client, 'GET');
    assert.equal(current.json?.client_name, 'Renamed app');
    assert.deepEqual(current.json?.redirect_uris, redirectUris);
  });

  it('after a successful PUT the remembered consent is forgotten: signing in from a new browser shows the consent page again, naming the changed client', async () => {
    const client = await approvedWebClient(server, new FormBrowser(server.url));
    const { metadata } = managementOf(client);
    assert.equal((await manage(server, client, 'PUT', { ...metadata, client_id: client.clientId, client_name: 'Renamed app' })).status, 200);
    const consent = consentPage(await signInOnly(new FormBrowser(server.url), client.authorizationRequest().url, ADMIN), 'after the change');
    const text = visibleText(consent.html);
    assert.match(text, /Allow access\?/);
    assert.match(text, /Renamed app/);
  });

  it('after a successful PUT the browser that approved the old registration is asked again too, not let through silently', async () => {
    const browser = new FormBrowser(server.url);
    const client = await approvedWebClient(server, browser);
    // Control: before the change this browser is sent straight back with a code.
    const before = client.authorizationRequest();
    codeFrom(await browser.open(before.url), WEB_REDIRECT, before.state);
    const { metadata } = managementOf(client);
    assert.equal((await manage(server, client, 'PUT', { ...metadata, client_id: client.clientId, client_name: 'Renamed app' })).status, 200);
    const visit = await browser.open(client.authorizationRequest().url);
    const consent = consentPage(visit, 'the approving browser after the change');
    assert.match(visibleText(consent.html), /Renamed app/);
  });

  it('DELETE answers 204; an access token issued to the client before is refused at /mcp right after, and its refresh token at /token', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
    await assertTokenAccepted(server, tokens.access_token, 'before the deletion');

    const deleted = await manage(server, client, 'DELETE');
    assert.equal(deleted.status, 204, deleted.text);

    // The revocation runs on the deletion event: allow it a moment, no more.
    await assertTokenRefused(server, tokens.access_token, 2_000, 'after the deletion');
    const refresh = await client.refresh(tokens.refresh_token);
    assert.ok(
      (refresh.status === 401 && refresh.json?.error === 'invalid_client') || (refresh.status === 400 && refresh.json?.error === 'invalid_grant'),
      `refresh after the deletion: ${refresh.status} ${refresh.text}`,
    );
    assert.equal(refresh.json?.access_token, undefined);
    assert.equal((await manage(server, client, 'GET')).status, 401, 'the registration is gone, and its access token with it');
  });

  it('a registration deleted while its consent page is open: "Allow" gets the error page with 400 invalid_client, and no code', async () => {
    const client = await RawOAuthClient.register(server, [WEB_REDIRECT], { client_name: 'Short-lived app' });
    const browser = new FormBrowser(server.url);
    const consent = consentPage(await signInOnly(browser, client.authorizationRequest().url, ADMIN));
    assert.equal((await manage(server, client, 'DELETE')).status, 204);
    const answer = await browser.submit(consent, formWithAction(consent, '/confirm'));
    assert.equal(answer.kind, 'page', 'not sent to the client');
    assert.equal(answer.status, 400);
    const text = visibleText((answer as { html: string }).html);
    assert.ok(text.includes('This sign-in request cannot continue the application is no longer registered with this server Error code: invalid_client.'), text);
  });

  it('registration with sector_identifier_uri, jwks_uri or request_uris is refused with 400 invalid_client_metadata, and the server connects nowhere', async () => {
    let connections = 0;
    const listener = net.createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    const port = await freePort();
    await new Promise<void>((resolve) => listener.listen(port, '127.0.0.1', resolve));
    try {
      const target = `https://127.0.0.1:${port}/x`;
      const cases: Array<[string, unknown]> = [['sector_identifier_uri', target], ['jwks_uri', target], ['request_uris', [target]]];
      for (const [field, value] of cases) {
        const answer = await registerRaw(server, {
          client_name: `fetches ${field}`,
          redirect_uris: [WEB_REDIRECT],
          token_endpoint_auth_method: 'none',
          [field]: value,
        });
        assert.equal(answer.status, 400, `${field}: ${answer.status} ${answer.text}`);
        assert.equal(answer.json?.error, 'invalid_client_metadata', `${field}: ${answer.text}`);
        assert.match(String(answer.json?.error_description), new RegExp(field), `${field}: names the field`);
        assert.equal(answer.json?.client_id, undefined, `${field}: no client registered`);
      }
      await sleep(500);
      assert.equal(connections, 0, 'the server opened no connection to the URLs in the metadata');
    } finally {
      // The listener counts what reaches it: one connection of our own shows the zero above means something.
      await new Promise<void>((resolve) => net.connect(port, '127.0.0.1').once('close', () => resolve()).once('error', () => resolve()));
      await new Promise((resolve) => listener.close(resolve));
    }
    assert.equal(connections, 1, 'the listener did count a connection made to it');
  });

  it('on a server on this machine, a page from another site cannot register a client (403, OAuth error), and a page on this machine can (201)', async () => {
    const body = JSON.stringify({ redirect_uris: [WEB_REDIRECT], token_endpoint_auth_method: 'none' });
    const post = (origin: string) => request(`${server.url}/register`, { method: 'POST', headers: { 'content-type': 'application/json', origin }, body });
    const refused = await post('https://evil.example');
    assert.equal(refused.status, 403, refused.text);
    assert.match(refused.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(refused.json?.error, 'invalid_request', refused.text);
    assert.match(String(refused.json?.error_description), /Origin https:\/\/evil\.example/);
    assert.equal(refused.json?.client_id, undefined);
    const accepted = await post('http://localhost:5173');
    assert.equal(accepted.status, 201, accepted.text);
    assert.equal(typeof accepted.json?.client_id, 'string');
  });
});
