import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { freePort } from '../support/free-port.js';
import { InMemoryOAuthClient, loopbackRedirect, sdkClientMetadata } from '../support/sdk-oauth-client.js';
import { authorizeSdkClient as authorize, connectSdkClient, generateUuids } from '../support/sdk-flow.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { isUuidV4, isUuidV7, uuidV7Time } from '../support/uuids.js';

const uuidsOf = (result: CallToolResult) => (result.structuredContent as { uuids: string[] }).uuids;

describe('the official SDK client, end to end against the real server', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  it('401 → discovery → registration → sign-in and consent through the forms → token → tools → refresh → revoke → 401, then again on another port', async () => {
    const redirect = loopbackRedirect(await freePort());
    const oauth = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));

    const unauthenticated = await fetch(server.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(unauthenticated.status, 401);
    assert.match(unauthenticated.headers.get('www-authenticate') ?? '', /^Bearer .*resource_metadata="http:\/\/localhost:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);

    const callback = await authorize(server, oauth);
    assert.equal(`${callback.origin}${callback.pathname}`, redirect, 'the browser is sent back to the registered redirect URI');
    assert.equal(callback.searchParams.get('iss'), server.url, 'RFC 9207 iss on the authorization response');
    assert.equal(callback.searchParams.get('state'), oauth.authorizationUrl!.searchParams.get('state'));
    assert.ok(oauth.clientInfo?.client_id, 'registered dynamically');
    const firstTokens = oauth.savedTokens!;
    assert.ok(firstTokens.access_token && firstTokens.refresh_token, 'access and refresh token issued');
    assert.equal(firstTokens.token_type.toLowerCase(), 'bearer');
    assert.ok(firstTokens.expires_in! >= 600, 'access tokens live at least 10 minutes by default');

    const client = await connectSdkClient(server, oauth);
    const tools = await client.listTools();
    assert.deepEqual(tools.tools.map((tool) => tool.name).sort(), ['generate_uuid', 'get_user_profile']);
    assert.ok(tools.tools.find((tool) => tool.name === 'generate_uuid')!.outputSchema, 'generate_uuid declares an output schema');

    const v4 = (await client.callTool({ name: 'generate_uuid', arguments: {} })) as CallToolResult;
    assert.equal(v4.isError, undefined);
    assert.equal(uuidsOf(v4).length, 1);
    assert.ok(isUuidV4(uuidsOf(v4)[0]!), `v4 by default: ${uuidsOf(v4)[0]}`);
    assert.equal((v4.content[0] as { text: string }).text, uuidsOf(v4)[0]);

    const before = Date.now();
    const v7 = (await client.callTool({ name: 'generate_uuid', arguments: { version: 'v7', count: 5 } })) as CallToolResult;
    const v7s = uuidsOf(v7);
    assert.equal(v7s.length, 5);
    for (const uuid of v7s) {
      assert.ok(isUuidV7(uuid), `v7: ${uuid}`);
      assert.ok(Math.abs(uuidV7Time(uuid) - before) < 60_000, 'v7 carries the current time');
    }
    assert.deepEqual([...v7s].sort(), v7s, 'v7 UUIDs from one call are in creation order');

    const profile = (await client.callTool({ name: 'get_user_profile', arguments: {} })) as CallToolResult;
    assert.equal((profile.structuredContent as { username: string }).username, 'admin');
    await client.close();

    // Refresh: the SDK exchanges the refresh token; rotation hands out a new one.
    assert.equal(await auth(oauth, { serverUrl: server.mcpUrl }), 'AUTHORIZED');
    const refreshed = oauth.savedTokens!;
    assert.notEqual(refreshed.access_token, firstTokens.access_token);
    assert.notEqual(refreshed.refresh_token, firstTokens.refresh_token, 'refresh tokens rotate');
    const afterRefresh = await connectSdkClient(server, oauth);
    assert.ok(isUuidV4((await generateUuids(afterRefresh))[0]!));
    await afterRefresh.close();

    // Revoke (RFC 7009), then the token is refused with 401.
    const revoked = await fetch(`${server.url}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshed.access_token, client_id: oauth.clientInfo!.client_id }),
    });
    assert.equal(revoked.status, 200);
    const refused = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${refreshed.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);

    // A second run of the same app: same client id, a new loopback port, a new browser.
    const secondRedirect = loopbackRedirect(await freePort());
    assert.notEqual(secondRedirect, redirect);
    const second = new InMemoryOAuthClient(secondRedirect, sdkClientMetadata(secondRedirect));
    second.clientInfo = oauth.clientInfo;
    const secondCallback = await authorize(server, second);
    assert.equal(`${secondCallback.origin}${secondCallback.pathname}`, secondRedirect, 'loopback redirect matched on another port (RFC 8252 §7.3)');
    assert.equal(second.clientInfo?.client_id, oauth.clientInfo!.client_id, 'no new registration');
    const again = await connectSdkClient(server, second);
    assert.ok(isUuidV4((await generateUuids(again))[0]!));
    await again.close();
  });
});
