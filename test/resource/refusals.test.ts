import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../support/free-port.js';
import { FormBrowser } from '../support/form-browser.js';
import { type Person } from '../support/person-at-browser.js';
import { initializeMessage, mcpRequest, openSession, RawOAuthClient, registerRaw, request, resourceMetadataUrl, tokensOf, toolsCallMessage, type McpReply, type RawResponse, type ServerLike } from '../support/raw-oauth.js';
import { ADMIN, addUser, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sleep } from '../support/time-limit.js';
import { isUuidV4 } from '../support/uuids.js';

const BOB: Person = { username: 'bob', password: 'bob-test-password-42' };

const newClient = (server: ServerLike) => RawOAuthClient.registerLoopback(server);

/** 401 with `WWW-Authenticate: Bearer …` naming the protected-resource metadata (RFC 6750 §3, RFC 9728 §5.1). */
function assertChallenge(reply: RawResponse, server: ServerLike, label = ''): string {
  assert.equal(reply.status, 401, `${label} expected 401, got ${reply.status}: ${reply.text}`);
  const challenge = reply.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer /, `${label} Bearer challenge: ${challenge}`);
  assert.ok(challenge.includes(`resource_metadata="${resourceMetadataUrl(server)}"`), `${label} resource_metadata in: ${challenge}`);
  return challenge;
}

/** A token rejected as such: the challenge carries error="invalid_token" and the body says so too. */
function assertInvalidToken(reply: RawResponse, server: ServerLike, label = ''): void {
  const challenge = assertChallenge(reply, server, label);
  assert.match(challenge, /error="invalid_token"/, `${label} ${challenge}`);
  assert.equal(reply.json?.error, 'invalid_token', `${label} body: ${reply.text}`);
}

function resultOf(reply: McpReply): { isError?: boolean; content: Array<{ type: string; text: string }>; structuredContent?: { uuids?: string[] } } {
  assert.equal(reply.status, 200, `expected a JSON-RPC result: ${reply.status} ${reply.text}`);
  const result = reply.message?.result;
  assert.ok(result && typeof result === 'object', `no result in ${reply.text}`);
  return result as ReturnType<typeof resultOf>;
}

async function generateOne(server: ServerLike, token: string, sessionId: string, id = 2): Promise<string> {
  const result = resultOf(await mcpRequest(server, token, toolsCallMessage(id, 'generate_uuid'), { sessionId }));
  assert.equal(result.isError, undefined, JSON.stringify(result));
  const uuid = result.structuredContent?.uuids?.[0] ?? '';
  assert.ok(isUuidV4(uuid), `a v4 UUID: ${uuid}`);
  return uuid;
}

describe('resource server (/mcp) refusals (default settings)', () => {
  let server: ServerProcess;
  let client: RawOAuthClient;
  before(async () => {
    server = await startServerProcess();
    client = await newClient(server);
  });
  after(async () => {
    await server?.stop();
  });

  for (const method of ['POST', 'GET', 'DELETE', 'HEAD']) {
    it(`${method} /mcp without a token gets 401 with WWW-Authenticate: Bearer resource_metadata="<server>/.well-known/oauth-protected-resource/mcp"`, async () => {
      const reply = await mcpRequest(server, undefined, initializeMessage(1), { method });
      const challenge = assertChallenge(reply, server, method);
      assert.doesNotMatch(challenge, /error=/, 'no error code when no credentials were sent (RFC 6750 §3.1)');
      assert.equal(reply.sessionId, null);
      if (method !== 'HEAD') assert.ok(reply.json, `${method}: a JSON error body: ${reply.text}`);
    });
  }

  it('[R3] an access token in the query string (?access_token=) is not accepted: 401', async () => {
    const tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
    const url = `${server.mcpUrl}?access_token=${encodeURIComponent(tokens.access_token)}`;
    const reply = await mcpRequest(server, undefined, initializeMessage(1), { url });
    assertChallenge(reply, server, 'query token');
    assert.equal(reply.sessionId, null, 'no session opened');
    // The same token in the Authorization header is fine, so the 401 is about where it was sent.
    assert.equal((await mcpRequest(server, tokens.access_token, initializeMessage(1))).status, 200);
  });

  it('a malformed JSON body with a valid token gets 400 with JSON-RPC error -32700 (parse error)', async () => {
    const tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
    const reply = await mcpRequest(server, tokens.access_token, undefined, { rawBody: '{"jsonrpc":"2.0","id":1,"method":"initialize",' });
    assert.equal(reply.status, 400, reply.text);
    assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(reply.json?.jsonrpc, '2.0');
    assert.equal((reply.json?.error as { code?: number } | undefined)?.code, -32700, reply.text);
    assert.equal(reply.json?.id, null);
  });

  it('9. a revoked access token (POST /revoke) gets 401 at /mcp, also inside the session it opened', async () => {
    const tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
    const sessionId = await openSession(server, tokens.access_token);
    await generateOne(server, tokens.access_token, sessionId);

    const revoked = await client.revoke(tokens.access_token, 'access_token');
    assert.equal(revoked.status, 200, revoked.text);

    assertInvalidToken(await mcpRequest(server, tokens.access_token, toolsCallMessage(3, 'generate_uuid'), { sessionId }), server, 'in the session');
    assertInvalidToken(await mcpRequest(server, tokens.access_token, initializeMessage(4)), server, 'new initialize');
  });

  it('[S2] 13. a session id presented with another user\'s token gets 404 with JSON-RPC error -32001 "Session not found", and the owner\'s session still works', async () => {
    addUser(server.dataDir, BOB);
    const alice = await client.authorize(new FormBrowser(server.url), ADMIN);
    const bob = await client.authorize(new FormBrowser(server.url), BOB);
    const sessionId = await openSession(server, alice.access_token);
    await generateOne(server, alice.access_token, sessionId);

    // Bob's token is good on its own (so the 404s below are about the session, not the token).
    assert.equal((await mcpRequest(server, bob.access_token, initializeMessage(1))).status, 200);

    const attempts: Array<[string, string, unknown]> = [
      ['POST tools/call', 'POST', toolsCallMessage(5, 'generate_uuid')],
      ['POST tools/call get_user_profile', 'POST', toolsCallMessage(6, 'get_user_profile')],
      ['GET (SSE stream)', 'GET', undefined],
      ['DELETE (end the session)', 'DELETE', undefined],
    ];
    for (const [label, method, message] of attempts) {
      const reply = await mcpRequest(server, bob.access_token, message, { sessionId, method });
      assert.equal(reply.status, 404, `${label}: ${reply.status} ${reply.text}`);
      assert.match(reply.headers.get('content-type') ?? '', /^application\/json/, label);
      assert.equal(reply.json?.jsonrpc, '2.0', label);
      assert.deepEqual(reply.json?.error, { code: -32001, message: 'Session not found' }, `${label}: ${reply.text}`);
      assert.equal(reply.json?.id, null, label);
      assert.equal(reply.json?.result, undefined, `${label}: nothing ran`);
    }

    // Alice's session survived all of it, DELETE included.
    await generateOne(server, alice.access_token, sessionId, 7);
    const profile = resultOf(await mcpRequest(server, alice.access_token, toolsCallMessage(8, 'get_user_profile'), { sessionId }));
    assert.equal((profile.structuredContent as { username?: string } | undefined)?.username, 'admin');
  });

  it('[M2][M3] a token granted only profile:read calling generate_uuid gets a tool result with isError true naming "uuid:generate" (and only it), while get_user_profile works with it', async () => {
    const scoped = await newClient(server);
    const tokens = await scoped.authorize(new FormBrowser(server.url), ADMIN, { scope: 'profile:read' });
    assert.ok(!(tokens.scope ?? '').split(' ').includes('uuid:generate'), `granted scope: ${tokens.scope}`);
    const sessionId = await openSession(server, tokens.access_token);

    const denied = resultOf(await mcpRequest(server, tokens.access_token, toolsCallMessage(2, 'generate_uuid'), { sessionId }));
    assert.equal(denied.isError, true, JSON.stringify(denied));
    assert.equal(denied.structuredContent, undefined, 'no UUIDs handed out');
    assert.match(denied.content[0]?.text ?? '', /^Missing scope "uuid:generate": this tool needs it/);
    assert.doesNotMatch(denied.content[0]?.text ?? '', /approve "[^"]*(profile:read|openid|offline_access)/, 'it asks for the one scope the tool needs, nothing more');

    // The session and the granted scope keep working.
    const profile = resultOf(await mcpRequest(server, tokens.access_token, toolsCallMessage(3, 'get_user_profile'), { sessionId }));
    assert.equal(profile.isError, undefined, JSON.stringify(profile));
  });

  it('[B14] token and registration responses carry Cache-Control: no-store (successes and errors)', async () => {
    const registered = await registerRaw(server, {
      client_name: 'cache check',
      redirect_uris: [`http://127.0.0.1:${await freePort()}/callback`],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(registered.status, 201, registered.text);
    assert.match(registered.headers.get('cache-control') ?? '', /no-store/, 'POST /register 201');

    const refusedRegistration = await registerRaw(server, { redirect_uris: ['javascript:alert(1)'], token_endpoint_auth_method: 'none' });
    assert.equal(refusedRegistration.status, 400);
    assert.match(refusedRegistration.headers.get('cache-control') ?? '', /no-store/, 'POST /register 400');

    const { code, request: authRequest } = await client.signIn(new FormBrowser(server.url), ADMIN);
    const issued = await client.exchange(code, authRequest.verifier);
    assert.equal(issued.status, 200, issued.text);
    assert.match(issued.headers.get('cache-control') ?? '', /no-store/, 'POST /token 200 (code)');

    const refreshed = await client.refresh(tokensOf(issued).refresh_token);
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.match(refreshed.headers.get('cache-control') ?? '', /no-store/, 'POST /token 200 (refresh)');

    const refusedToken = await client.exchange(code, authRequest.verifier);
    assert.equal(refusedToken.status, 400);
    assert.match(refusedToken.headers.get('cache-control') ?? '', /no-store/, 'POST /token 400');
  });

  it('registration with "scope": "" (Gemini CLI\'s body) gets 201 with the full client metadata', async () => {
    const redirectUri = `http://localhost:${await freePort()}/oauth/callback`;
    const body = {
      client_name: 'Gemini CLI MCP Client',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: '',
    };
    const answer = await registerRaw(server, body);
    assert.equal(answer.status, 201, answer.text);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    const metadata = answer.json!;
    assert.equal(typeof metadata.client_id, 'string');
    assert.ok((metadata.client_id as string).length > 0);
    assert.deepEqual(metadata.redirect_uris, body.redirect_uris);
    assert.deepEqual(metadata.grant_types, body.grant_types);
    assert.deepEqual(metadata.response_types, body.response_types);
    assert.equal(metadata.token_endpoint_auth_method, 'none');
    assert.equal(metadata.client_name, body.client_name);
    assert.equal(metadata.client_secret, undefined, 'a public client gets no secret');
    assert.notEqual(metadata.scope, '', 'the empty scope is not stored as a ceiling of nothing');
  });

  it('an OPTIONS /mcp preflight from http://localhost:5173 gets 204 with CORS headers, no token needed', async () => {
    const answer = await request(server.mcpUrl, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, mcp-session-id, mcp-protocol-version',
      },
    });
    assert.equal(answer.status, 204, answer.text);
    assert.equal(answer.headers.get('www-authenticate'), null, 'no authentication challenge on a preflight');
    const allowOrigin = answer.headers.get('access-control-allow-origin');
    assert.ok(allowOrigin === '*' || allowOrigin === 'http://localhost:5173', `Access-Control-Allow-Origin: ${allowOrigin}`);
    const methods = (answer.headers.get('access-control-allow-methods') ?? '').toUpperCase();
    for (const method of ['POST', 'GET', 'DELETE']) assert.ok(methods.includes(method), `Allow-Methods has ${method}: ${methods}`);
    const allowed = (answer.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const header of ['authorization', 'content-type', 'mcp-session-id', 'mcp-protocol-version']) {
      assert.ok(allowed.includes(header), `Allow-Headers has ${header}: ${allowed}`);
    }
  });
});

describe('resource server (/mcp) with short-lived access tokens (ACCESS_TOKEN_TTL=2)', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess({ env: { ACCESS_TOKEN_TTL: '2', ALLOW_SHORT_ACCESS_TOKEN_TTL: 'true' } });
  });
  after(async () => {
    await server?.stop();
  });

  it('[R2] 8. an expired access token gets 401 with WWW-Authenticate error="invalid_token" and resource_metadata', async () => {
    const client = await newClient(server);
    const tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
    assert.ok(tokens.expires_in <= 2, `expires_in ${tokens.expires_in}`);
    const fresh = await mcpRequest(server, tokens.access_token, initializeMessage(1));
    assert.equal(fresh.status, 200, `accepted before it expires: ${fresh.text}`);

    await sleep(3_500);
    assertInvalidToken(await mcpRequest(server, tokens.access_token, initializeMessage(2)), server, 'expired');
    assertInvalidToken(await mcpRequest(server, tokens.access_token, toolsCallMessage(3, 'generate_uuid'), { sessionId: fresh.sessionId ?? undefined }), server, 'expired, in its session');

    // Expiry is not revocation: the refresh token still gets a new access token that works.
    const renewed = tokensOf(await client.refresh(tokens.refresh_token));
    assert.equal((await mcpRequest(server, renewed.access_token, initializeMessage(4))).status, 200);
  });
});
