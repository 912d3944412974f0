import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { freePort } from '../support/free-port.js';
import { visibleText as visitText } from '../support/forms.js';
import { FormBrowser } from '../support/form-browser.js';
import { InMemoryOAuthClient, loopbackRedirect, sdkClientMetadata } from '../support/sdk-oauth-client.js';
import { authorizeSdkClient, connectSdkClient, generateUuids } from '../support/sdk-flow.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { isUuidV4 } from '../support/uuids.js';

describe('a server killed with SIGKILL and started again on the same data directory', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('keeps every access token, refresh token, registration, sign-in session and consent it acknowledged', async () => {
    const first = await startServerProcess();
    servers.push(first);
    const redirect = loopbackRedirect(await freePort());
    const oauth = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
    const browser = new FormBrowser(first.url);
    await authorizeSdkClient(first, oauth, { browser });
    const tokens = oauth.savedTokens!;
    const clientId = oauth.clientInfo!.client_id;

    await first.kill();
    assert.equal(first.child.signalCode, 'SIGKILL', 'killed, not shut down');
    const second = await startServerProcess({ dataDir: first.dataDir, port: first.port });
    servers.push(second);
    assert.doesNotMatch(second.output(), /password:/, 'no new admin is created on a restart');

    // The access token issued before the crash still calls tools.
    const client = await connectSdkClient(second, oauth);
    assert.ok(isUuidV4((await generateUuids(client))[0]!));
    await client.close();
    assert.equal(oauth.savedTokens!.access_token, tokens.access_token, 'the old access token was used, not replaced');

    // The refresh token still refreshes, and the new token works.
    assert.equal(await auth(oauth, { serverUrl: second.mcpUrl }), 'AUTHORIZED');
    assert.notEqual(oauth.savedTokens!.access_token, tokens.access_token);
    const refreshed = await connectSdkClient(second, oauth);
    assert.ok(isUuidV4((await generateUuids(refreshed))[0]!));
    await refreshed.close();

    // The registration, the browser's sign-in session and the consent survive: the same client id
    // authorizes again on another port with no sign-in, and the page only asks to continue (a native
    // app is always asked, RFC 8252 §8.6).
    const againRedirect = loopbackRedirect(await freePort());
    const again = new InMemoryOAuthClient(againRedirect, sdkClientMetadata(againRedirect));
    again.clientInfo = oauth.clientInfo;
    await authorizeSdkClient(second, again, { browser });
    assert.equal(again.clientInfo?.client_id, clientId);
    const visit = await browser.open(again.authorizationUrl!);
    assert.equal(visit.kind, 'page');
    assert.match(visit.kind === 'page' ? visitText(visit.html) : '', /Continue\? .*You allowed this application before/);
    assert.doesNotMatch(visit.kind === 'page' ? visit.html : '', /name="password"/, 'still signed in after the crash');
  });
});
