import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FormBrowser } from '../support/form-browser.js';
import { assertOAuthError } from '../support/oauth-assertions.js';
import { RawOAuthClient, request, tokensOf, type RawResponse } from '../support/raw-oauth.js';
import { ADMIN, restartServer, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { eventually, sleep } from '../support/time-limit.js';
import { assertTokenAccepted } from '../support/token-checks.js';

/** RFC 7592: the registration as its registration access token reads it. */
function readRegistration(client: RawOAuthClient): Promise<RawResponse> {
  return request(String(client.registration.registration_client_uri), { headers: { authorization: `Bearer ${String(client.registration.registration_access_token)}` } });
}

/** The client is unknown everywhere: 401 invalid_client at /token, a 400 page (no redirect) at /auth, 401 for its registration access token. */
async function assertClientGone(client: RawOAuthClient, label: string): Promise<void> {
  assertOAuthError(await client.refresh('any-refresh-token'), 401, 'invalid_client', `${label}: /token`);
  const authorization = await request(client.authorizationRequest().url);
  assert.equal(authorization.status, 400, `${label}: /auth ${authorization.status}`);
  assert.equal(authorization.headers.get('location'), null, `${label}: /auth does not redirect`);
  assert.match(authorization.headers.get('content-type') ?? '', /^text\/html/, `${label}: /auth answers with a page`);
  const registration = await readRegistration(client);
  assert.equal(registration.status, 401, `${label}: GET ${String(client.registration.registration_client_uri)} ${registration.text}`);
  assert.equal(registration.json?.client_id, undefined, label);
}

describe('registrations no user ever approved expire (UNUSED_REGISTRATION_TTL)', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('after 3 s, a client registered and never approved gets 401 invalid_client at /token, 400 at /auth and 401 for its registration access token; the client that completed a grant keeps refreshing, also after a restart', async () => {
    const env = { UNUSED_REGISTRATION_TTL: '3s' };
    let server = await startServerProcess({ env });
    servers.push(server);
    const used = await RawOAuthClient.registerLoopback(server);
    const unused = await RawOAuthClient.registerLoopback(server);
    const tokens = await used.authorize(new FormBrowser(server.url), ADMIN);
    assert.equal((await readRegistration(unused)).status, 200, 'the unused registration exists at first');

    await eventually(async () => assert.equal((await unused.refresh('any-refresh-token')).status, 401), 8_000, 250);
    await assertClientGone(unused, 'the unused client after the TTL');
    assert.match(server.output(), /clients\.unused_deleted count=1\b/);
    assert.equal((await readRegistration(used)).status, 200, 'the used registration is kept');
    const refreshed = tokensOf(await used.refresh(tokens.refresh_token));
    await assertTokenAccepted(server, refreshed.access_token, 'refreshed after the TTL');

    server = await restartServer(server, { env });
    servers.push(server);
    const afterRestart = tokensOf(await used.refresh(refreshed.refresh_token));
    await assertTokenAccepted(server, afterRestart.access_token, 'refreshed after the restart');
    await used.authorize(new FormBrowser(server.url), ADMIN);
    await assertClientGone(unused, 'the unused client after the restart');
  });

  it('the sweep runs at start-up: a client whose TTL passed while the server was stopped is gone at the first request after the start', async () => {
    const first = await startServerProcess({ env: { UNUSED_REGISTRATION_TTL: '1h' } });
    servers.push(first);
    const client = await RawOAuthClient.registerLoopback(first);
    await first.stop();
    await sleep(2_100);
    // 2 s: the timer's first sweep is 1 s after the start; the start-up sweep comes before listening.
    const second = await startServerProcess({ dataDir: first.dataDir, port: first.port, env: { UNUSED_REGISTRATION_TTL: '2s' } });
    servers.push(second);
    await assertClientGone(client, 'registered before the stop');
    const fresh = await RawOAuthClient.registerLoopback(second);
    assert.equal((await readRegistration(fresh)).status, 200, 'a registration younger than the TTL stays');
  });
});
