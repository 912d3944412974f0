import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { compatibilitySuite } from '../support/compatibility.js';
import { assertMcpPostsCarried, assertOneCodeExchange, assertOneRefresh, recordingFetch, requestsTo, type FetchRecorder } from '../support/fetch-recorder.js';
import { freePort } from '../support/free-port.js';
import { InMemoryOAuthClient, loopbackRedirect, sdkClientMetadata } from '../support/sdk-oauth-client.js';
import { authorizeSdkClient as authorize, connectSdkClient, generateUuids } from '../support/sdk-flow.js';
import { restartServer, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { dependencyVersion } from '../support/third-party.js';
import { isUuidV4, isUuidV7, uuidV7Time } from '../support/uuids.js';

/**
 * The official TypeScript SDK's v1 client (`@modelcontextprotocol/sdk`, this project's own
 * dependency): its Streamable HTTP transport and its `auth()` flow with an OAuthClientProvider as an
 * application writes one (test/support/sdk-oauth-client.ts). Only the person and the browser are
 * simulated (FormBrowser submits the real sign-in and consent forms). Every request the SDK sends
 * goes through the transport's `fetch` option, which records it.
 */

const uuidsOf = (result: CallToolResult) => (result.structuredContent as { uuids: string[] }).uuids;

describe(compatibilitySuite({ client: 'MCP TypeScript SDK (v1)', version: dependencyVersion('@modelcontextprotocol/sdk'), transport: 'Streamable HTTP', registration: 'dynamic registration' }), () => {
  let server: ServerProcess;
  let recorder: FetchRecorder;
  let redirect: string;
  let oauth: InMemoryOAuthClient;

  before(async () => {
    server = await startServerProcess();
    recorder = recordingFetch(server.url, (request) => request.url.pathname === '/register' || request.url.pathname === '/token');
  });
  after(async () => {
    await server?.stop();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  it('401 → discovery → registration → sign-in and consent through the forms → token → tools/list → generate_uuid', async () => {
    redirect = loopbackRedirect(await freePort());
    oauth = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
    recorder.step();

    const callback = await authorize(server, oauth, { fetch: recorder.fetch });
    const flow = recorder.since();

    // Discovery: the 401 on POST /mcp names the protected resource metadata, which names the issuer.
    const first = flow[0]!;
    assert.equal(`${first.method} ${first.url.pathname}`, 'POST /mcp', 'the SDK starts with initialize');
    assert.equal(first.authorization, null, 'no token yet');
    assert.equal(first.status, 401);
    assert.match(first.wwwAuthenticate ?? '', /^Bearer .*resource_metadata="http:\/\/localhost:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    assert.equal(requestsTo(flow, 'GET', '/.well-known/oauth-protected-resource/mcp')[0]?.status, 200, 'the SDK read the protected resource metadata it was pointed to');
    assert.equal(requestsTo(flow, 'GET', '/.well-known/oauth-authorization-server')[0]?.status, 200, 'the SDK read the authorization server metadata (RFC 8414)');

    // Registration: the application's metadata as it gave it to the SDK, and the client the server made of it.
    const registrations = requestsTo(flow, 'POST', '/register');
    assert.equal(registrations.length, 1, 'registered exactly once');
    assert.deepEqual(JSON.parse(registrations[0]!.body!), { ...sdkClientMetadata(redirect), scope: 'uuid:generate profile:read' }, 'the application\'s metadata, plus the scopes the protected resource metadata lists');
    assert.equal(registrations[0]!.status, 201, registrations[0]!.responseBody);
    const registered = JSON.parse(registrations[0]!.responseBody!) as { client_id: string; redirect_uris: string[]; application_type: string };
    assert.equal(oauth.clientInfo?.client_id, registered.client_id, 'the SDK saved the registration');
    assert.deepEqual(registered.redirect_uris, [redirect]);
    assert.equal(registered.application_type, 'native', 'a loopback redirect makes it a native app (any port, RFC 8252 §7.3)');

    // Authorization request and response.
    const authorizationUrl = oauth.authorizationUrl!;
    assert.equal(`${authorizationUrl.origin}${authorizationUrl.pathname}`, `${server.url}/auth`);
    assert.equal(authorizationUrl.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authorizationUrl.searchParams.get('resource'), server.mcpUrl, 'RFC 8707 resource from the protected resource metadata');
    assert.equal(authorizationUrl.searchParams.get('scope'), 'uuid:generate profile:read', 'the scopes the protected resource metadata lists');
    assert.equal(`${callback.origin}${callback.pathname}`, redirect, 'the browser is sent back to the registered redirect URI');
    assert.equal(callback.searchParams.get('iss'), server.url, 'RFC 9207 iss on the authorization response');
    assert.equal(callback.searchParams.get('state'), authorizationUrl.searchParams.get('state'));

    // Token exchange: form-encoded, PKCE verifier, resource; access and refresh token.
    assertOneCodeExchange(flow, { clientId: registered.client_id, redirectUri: redirect, resource: server.mcpUrl, codeChallenge: authorizationUrl.searchParams.get('code_challenge') });
    const firstTokens = oauth.savedTokens!;
    assert.ok(firstTokens.access_token && firstTokens.refresh_token, 'access and refresh token issued');
    assert.equal(firstTokens.token_type.toLowerCase(), 'bearer');
    assert.ok(firstTokens.expires_in! >= 600, 'access tokens live at least 10 minutes by default');

    // Tools, with the token the SDK saved.
    recorder.step();
    const client = await connectSdkClient(server, oauth, { fetch: recorder.fetch });
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
    assertMcpPostsCarried(recorder.since(), firstTokens.access_token, 6);
  });

  it('refresh: the SDK exchanges the refresh token; rotation hands out a new one, and it works', async () => {
    const before = oauth.savedTokens!;
    recorder.step();
    assert.equal(await auth(oauth, { serverUrl: server.mcpUrl, fetchFn: recorder.fetch }), 'AUTHORIZED');
    assertOneRefresh(recorder.since(), { refreshToken: before.refresh_token!, clientId: oauth.clientInfo!.client_id, resource: server.mcpUrl });

    const refreshed = oauth.savedTokens!;
    assert.notEqual(refreshed.access_token, before.access_token);
    assert.notEqual(refreshed.refresh_token, before.refresh_token, 'refresh tokens rotate');
    recorder.step();
    const afterRefresh = await connectSdkClient(server, oauth, { fetch: recorder.fetch });
    assert.ok(isUuidV4((await generateUuids(afterRefresh))[0]!));
    await afterRefresh.close();
    assertMcpPostsCarried(recorder.since(), refreshed.access_token, 3);
  });

  it('after the server restarts on the same data: the stored tokens keep working without a new sign-in, and refresh still works', async () => {
    const stored = oauth.savedTokens!;
    server = await restartServer(server);

    recorder.step();
    oauth.authorizationUrl = undefined;
    const client = await connectSdkClient(server, oauth, { fetch: recorder.fetch });
    assert.ok(isUuidV4((await generateUuids(client))[0]!));
    assert.ok(isUuidV7((await generateUuids(client, { version: 'v7' }))[0]!));
    await client.close();
    assertMcpPostsCarried(recorder.since(), stored.access_token, 4);
    assert.equal(oauth.authorizationUrl, undefined, 'no sign-in was started');
    assert.deepEqual(recorder.since().filter((request) => request.url.pathname !== '/mcp').map((request) => `${request.method} ${request.url.pathname}`), [], 'no discovery, registration or token request: the stored token was accepted as is');
    assert.equal(oauth.savedTokens, stored);

    // The refresh token issued before the restart still refreshes.
    recorder.step();
    assert.equal(await auth(oauth, { serverUrl: server.mcpUrl, fetchFn: recorder.fetch }), 'AUTHORIZED');
    assertOneRefresh(recorder.since(), { refreshToken: stored.refresh_token!, clientId: oauth.clientInfo!.client_id, resource: server.mcpUrl });
    assert.notEqual(oauth.savedTokens!.access_token, stored.access_token);
    const refreshed = await connectSdkClient(server, oauth, { fetch: recorder.fetch });
    assert.ok(isUuidV4((await generateUuids(refreshed))[0]!));
    await refreshed.close();
  });

  it('revoke (RFC 7009): the access token is refused with 401 invalid_token', async () => {
    const { access_token: accessToken } = oauth.savedTokens!;
    const revoked = await fetch(`${server.url}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: accessToken, client_id: oauth.clientInfo!.client_id }),
    });
    assert.equal(revoked.status, 200);
    const refused = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  it('a second run of the same app: same client id, a new loopback port, a new browser, no new registration', async () => {
    const secondRedirect = loopbackRedirect(await freePort());
    assert.notEqual(secondRedirect, redirect);
    const second = new InMemoryOAuthClient(secondRedirect, sdkClientMetadata(secondRedirect));
    second.clientInfo = oauth.clientInfo;
    recorder.step();
    const secondCallback = await authorize(server, second, { fetch: recorder.fetch });
    assert.equal(`${secondCallback.origin}${secondCallback.pathname}`, secondRedirect, 'loopback redirect matched on another port (RFC 8252 §7.3)');
    assert.equal(second.clientInfo?.client_id, oauth.clientInfo!.client_id);
    assert.equal(requestsTo(recorder.since(), 'POST', '/register').length, 0, 'no new registration');
    const again = await connectSdkClient(server, second, { fetch: recorder.fetch });
    assert.ok(isUuidV4((await generateUuids(again))[0]!));
    await again.close();
  });
});
