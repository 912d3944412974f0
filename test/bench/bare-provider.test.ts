import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBareProvider } from '../../bench/processes.js';
import { firstTimeDance, reauthorization } from '../../bench/oauth-dance.js';
import { asPage, FormBrowser, formWithAction } from '../support/form-browser.js';
import { initializeMessage, mcpRequest, RawOAuthClient } from '../support/raw-oauth.js';
import { ADMIN } from '../support/server-process.js';

/**
 * The bare oidc-provider (bench/bare-provider.ts) is only a fair floor for our dance if it walks the
 * same dance: bench/oauth-dance.ts, unchanged, must pass against it, including the consent page on
 * re-authorization; and its shortcuts must not make it accept what ours refuses.
 */
describe('bench: the bare oidc-provider walks the same OAuth dance', () => {
  let bare: Awaited<ReturnType<typeof startBareProvider>>;

  before(async () => {
    bare = await startBareProvider(ADMIN, { pin: false });
  });
  after(async () => {
    await bare?.stop();
  });

  it('passes the first-time dance and a re-authorization that shows the consent page again without the password', async () => {
    const first = await firstTimeDance(bare, ADMIN);
    assert.deepEqual(Object.keys(first.steps), ['discovery', 'registration', 'authorize', 'signIn', 'consent', 'token', 'firstCall']);
    const again = await reauthorization(bare, ADMIN, first);
    assert.deepEqual(Object.keys(again.steps), ['authorize', 'consent', 'token', 'firstCall']);
    assert.notEqual(again.tokens.access_token, first.tokens.access_token);
  });

  it('answers a wrong password with the sign-in page again (401), not a code', async () => {
    const client = await RawOAuthClient.registerLoopback(bare);
    const browser = new FormBrowser(bare.url);
    const login = asPage(await browser.open(client.authorizationRequest().url));
    const retry = await browser.submit(login, formWithAction(login, '/login'), { username: ADMIN.username, password: `${ADMIN.password}x` });
    assert.equal(asPage(retry).status, 401);
    assert.ok(asPage(retry).html.includes('/login"'));
  });

  it('refuses /mcp without a token (401 pointing at its metadata) and with a token it never issued', async () => {
    const none = await mcpRequest(bare, undefined, initializeMessage(1));
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), `Bearer resource_metadata="${bare.url}/.well-known/oauth-protected-resource/mcp"`);
    const forged = await mcpRequest(bare, 'not-a-token-it-issued', initializeMessage(1));
    assert.equal(forged.status, 401);
  });
});
