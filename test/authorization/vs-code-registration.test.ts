import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../support/free-port.js';
import { FormBrowser } from '../support/form-browser.js';
import { mcpRequest, openSession, RawOAuthClient, registerRaw, request, toolsCallMessage, type ServerLike } from '../support/raw-oauth.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { isUuidV4 } from '../support/uuids.js';

/**
 * VS Code cannot run headless here, so its own code is not driven (README, "Connect your client").
 * This replays what its source sends (microsoft/vscode src/vs/base/common/oauth.ts,
 * fetchDynamicRegistration): a registration body built from our metadata, then an authorization on
 * its fixed port 33418 or, when that port is busy, on another one. A replay, not VS Code: it shows
 * the server accepts that body and the redirects VS Code uses, nothing about VS Code's behaviour.
 */
async function vsCodeRegistrationBody(server: ServerLike): Promise<Record<string, unknown>> {
  const asMetadata = (await request(`${server.url}/.well-known/oauth-authorization-server`)).json as { grant_types_supported?: string[] };
  const resource = (await request(`${server.url}/.well-known/oauth-protected-resource/mcp`)).json as { scopes_supported: string[] };
  const supported = ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'];
  return {
    client_name: 'Visual Studio Code',
    client_uri: 'https://code.visualstudio.com',
    grant_types: asMetadata.grant_types_supported ? asMetadata.grant_types_supported.filter((grant) => supported.includes(grant)) : supported,
    response_types: ['code'],
    redirect_uris: ['https://insiders.vscode.dev/redirect', 'https://vscode.dev/redirect', 'http://127.0.0.1/', 'http://127.0.0.1:33418/'],
    scope: resource.scopes_supported.join(' '),
    token_endpoint_auth_method: 'none',
    application_type: 'native',
  };
}

describe("VS Code's registration body and redirects, replayed from its source (not VS Code itself)", () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  it('is registered as a native public client with every redirect URI it sent, and signs in on port 33418 and on a fallback port', async () => {
    const body = await vsCodeRegistrationBody(server);
    const registered = await registerRaw(server, body);
    assert.equal(registered.status, 201, registered.text);
    const answer = registered.json as Record<string, unknown>;
    assert.equal(answer.application_type, 'native');
    assert.equal(answer.token_endpoint_auth_method, 'none');
    assert.deepEqual(answer.redirect_uris, body.redirect_uris);
    assert.deepEqual(answer.grant_types, ['authorization_code', 'refresh_token'], 'the grant types VS Code picks from our metadata');
    const client = new RawOAuthClient(server, answer.client_id as string, body.redirect_uris as string[], answer);

    const browser = new FormBrowser(server.url);
    for (const redirectUri of ['http://127.0.0.1:33418/', `http://127.0.0.1:${await freePort()}/`]) {
      const tokens = await client.authorize(browser, ADMIN, { redirectUri, scope: body.scope as string });
      assert.equal(tokens.scope?.split(' ').sort().join(' '), 'profile:read uuid:generate', `the scopes VS Code asked for, on ${redirectUri}`);
      const sessionId = await openSession(server, tokens.access_token);
      const call = await mcpRequest(server, tokens.access_token, toolsCallMessage(2, 'generate_uuid'), { sessionId });
      const uuid = ((call.message?.result as { structuredContent?: { uuids?: string[] } } | undefined)?.structuredContent?.uuids ?? [])[0];
      assert.ok(uuid && isUuidV4(uuid), `a UUID through the token issued on ${redirectUri}: ${call.text}`);
    }
  });
});
