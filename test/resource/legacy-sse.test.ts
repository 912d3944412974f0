import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { compatibilitySuite } from '../support/compatibility.js';
import { freePort } from '../support/free-port.js';
import { formWithAction, FormBrowser } from '../support/form-browser.js';
import {
  initializedNotification,
  initializeMessage,
  mcpRequest,
  openSession,
  RawOAuthClient,
  request,
  tokensOf,
  toolsCallMessage,
  type RawResponse,
  type Tokens,
} from '../support/raw-oauth.js';
import { codeFrom, consentPage } from '../support/page-steps.js';
import { type Person } from '../support/person-at-browser.js';
import { authorizeSdkClient, connectSdkClient, generateUuids } from '../support/sdk-flow.js';
import { InMemoryOAuthClient, loopbackRedirect, sdkClientMetadata } from '../support/sdk-oauth-client.js';
import { addUser, ADMIN, restartServer, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { call, nextMessage, openLegacySession, postMessage, SseStream, type LegacySession } from '../support/sse-stream.js';
import { dependencyVersion } from '../support/third-party.js';
import { serverLog } from '../support/server-log.js';
import { eventually, within } from '../support/time-limit.js';
import { introspect } from '../support/token-checks.js';
import { isUuidV4, isUuidV7 } from '../support/uuids.js';

/**
 * MCP's 2024-11-05 HTTP+SSE transport (`GET /sse`, `POST /messages?sessionId=…`), spoken raw on
 * fetch with tokens from the real flow (registration, the sign-in and consent forms, PKCE, the
 * token endpoint), then by the official SDK's SSEClientTransport. /sse is a protected resource of
 * its own, with its metadata and its challenge; a token issued for it or for /mcp works at both.
 */

const BOB: Person = { username: 'bob', password: 'bob-test-password-42' };
const LEGACY_PROTOCOL = '2024-11-05';
const MIB = 1024 * 1024;

const sseMetadataUrl = (server: ServerProcess) => `${server.url}/.well-known/oauth-protected-resource/sse`;
const mcpMetadataUrl = (server: ServerProcess) => `${server.url}/.well-known/oauth-protected-resource/mcp`;

/** 401 with a Bearer challenge naming `metadataUrl`; `error` is the expected error code, or undefined for none (no credentials sent). */
function assertChallenge(reply: RawResponse, metadataUrl: string, error: string | undefined, label: string): void {
  assert.equal(reply.status, 401, `${label}: expected 401, got ${reply.status}: ${reply.text}`);
  const challenge = reply.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer /, `${label}: ${challenge}`);
  assert.ok(challenge.includes(`resource_metadata="${metadataUrl}"`), `${label}: resource_metadata="${metadataUrl}" in ${challenge}`);
  if (error) assert.ok(challenge.includes(`error="${error}"`), `${label}: error="${error}" in ${challenge}`);
  else assert.doesNotMatch(challenge, /error=/, `${label}: no error code when no credentials were sent (RFC 6750 §3.1)`);
}

function jsonRpcError(reply: RawResponse, status: number, code: number, label: string): void {
  assert.equal(reply.status, status, `${label}: ${reply.text}`);
  assert.equal(reply.json?.jsonrpc, '2.0', `${label}: a JSON-RPC error body: ${reply.text}`);
  assert.equal((reply.json?.error as { code?: number } | undefined)?.code, code, `${label}: ${reply.text}`);
}

const legacyInitialize = (id: number) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: LEGACY_PROTOCOL, capabilities: {}, clientInfo: { name: 'raw-sse-test', version: '1.0.0' } },
});

/** initialize and notifications/initialized over the session; returns the initialize result. */
async function initialize(session: LegacySession, token: string): Promise<Record<string, unknown>> {
  const answer = await call(session, token, legacyInitialize(1));
  const ready = await postMessage(session.endpoint, token, initializedNotification);
  assert.equal(ready.status, 202, `notifications/initialized: ${ready.text}`);
  return answer.result as Record<string, unknown>;
}

function toolResult(answer: Record<string, unknown>): { isError?: boolean; structuredContent?: Record<string, unknown> } {
  assert.ok(answer.result, `a result: ${JSON.stringify(answer)}`);
  return answer.result as ReturnType<typeof toolResult>;
}

describe('legacy HTTP+SSE transport (/sse, /messages), default settings', () => {
  let server: ServerProcess;
  let client: RawOAuthClient;
  /** admin through `client`, for /sse and for /mcp. */
  let sseTokens: Tokens;
  let mcpTokens: Tokens;
  const open: SseStream[] = [];
  const session = async (token: string) => {
    const opened = await openLegacySession(server, token);
    open.push(opened.stream);
    return opened;
  };

  before(async () => {
    server = await startServerProcess();
    addUser(server.dataDir, BOB);
    client = await RawOAuthClient.registerLoopback(server);
    const browser = new FormBrowser(server.url);
    sseTokens = await client.authorize(browser, ADMIN, { resource: server.sseUrl });
    mcpTokens = await client.authorize(browser, ADMIN);
  });
  after(async () => {
    open.forEach((stream) => stream.close());
    await server?.stop();
  });

  for (const [method, path] of [['GET', '/sse'], ['HEAD', '/sse'], ['POST', '/messages?sessionId=00000000-0000-4000-8000-000000000000']] as const) {
    it(`${method} ${path.split('?')[0]} without a token: 401 with WWW-Authenticate: Bearer resource_metadata="<server>/.well-known/oauth-protected-resource/sse"`, async () => {
      const reply = await request(`${server.url}${path}`, { method, headers: { accept: 'text/event-stream', 'content-type': 'application/json' }, body: method === 'POST' ? JSON.stringify(initializeMessage(1)) : undefined });
      assertChallenge(reply, sseMetadataUrl(server), undefined, method);
      if (method !== 'HEAD') assert.equal(reply.json?.error, 'invalid_token', `${method}: an error body: ${reply.text}`);
      const forged = await request(`${server.url}${path}`, { method, headers: { authorization: 'Bearer not-a-token-this-server-issued', 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
      assertChallenge(forged, sseMetadataUrl(server), 'invalid_token', `${method} with an unknown token`);
    });
  }

  it('protected-resource metadata for /sse names the exact /sse URL and the issuer; the /mcp and root documents still name /mcp', async () => {
    const sse = await request(sseMetadataUrl(server));
    assert.equal(sse.status, 200, sse.text);
    assert.equal(sse.json!.resource, server.sseUrl, 'Gemini CLI compares it strictly with the URL it was configured with');
    assert.deepEqual(sse.json!.authorization_servers, [server.url]);
    assert.deepEqual(sse.json!.scopes_supported, ['uuid:generate', 'profile:read']);
    for (const path of [mcpMetadataUrl(server), `${server.url}/.well-known/oauth-protected-resource`]) {
      const mcp = await request(path);
      assert.equal(mcp.json!.resource, server.mcpUrl, path);
    }
  });

  it('the endpoint event, then initialize → tools/list → tools/call generate_uuid over the stream, with a token the real flow issued for /sse', async () => {
    const log = await serverLog(server);
    const stream = await SseStream.open(server.sseUrl, sseTokens.access_token);
    open.push(stream);
    assert.equal(stream.status, 200, stream.text);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.match(stream.headers.get('cache-control') ?? '', /no-cache/);
    const endpointEvent = await stream.next();
    assert.equal(endpointEvent.event, 'endpoint', 'the first event is "endpoint"');
    assert.match(endpointEvent.data, /^\/messages\?sessionId=[0-9a-f-]{36}$/, 'a relative URL on this origin with the session id');
    const endpoint = new URL(endpointEvent.data, server.sseUrl);
    const legacy: LegacySession = { stream, endpoint, sessionId: endpoint.searchParams.get('sessionId')! };

    const posted = await postMessage(endpoint, sseTokens.access_token, legacyInitialize(1));
    assert.equal(posted.status, 202, 'a message is accepted with 202; its answer comes on the stream');
    const init = await nextMessage(stream);
    assert.equal(init.id, 1);
    const result = init.result as { protocolVersion: string; serverInfo: { name: string }; capabilities: { tools?: object } };
    assert.equal(result.protocolVersion, LEGACY_PROTOCOL, 'the 2024-11-05 protocol version the client asked for');
    assert.equal(result.serverInfo.name, 'UUID MCP Server');
    assert.ok(result.capabilities.tools);
    assert.equal((await postMessage(endpoint, sseTokens.access_token, initializedNotification)).status, 202);

    const list = await call(legacy, sseTokens.access_token, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
    assert.deepEqual((list.result as { tools: { name: string }[] }).tools.map((tool) => tool.name).sort(), ['generate_uuid', 'get_user_profile']);
    const v4 = toolResult(await call(legacy, sseTokens.access_token, toolsCallMessage(3, 'generate_uuid')));
    assert.notEqual(v4.isError, true, JSON.stringify(v4));
    assert.ok(isUuidV4((v4.structuredContent!.uuids as string[])[0]!), JSON.stringify(v4));
    const v7 = toolResult(await call(legacy, sseTokens.access_token, toolsCallMessage(4, 'generate_uuid', { version: 'v7', count: 3 })));
    const uuids = v7.structuredContent!.uuids as string[];
    assert.equal(uuids.length, 3);
    assert.ok(uuids.every(isUuidV7), uuids.join(' '));
    const profile = toolResult(await call(legacy, sseTokens.access_token, toolsCallMessage(5, 'get_user_profile')));
    assert.equal(profile.structuredContent!.username, 'admin', 'the tools see who signed in');
    assert.equal(stream.pending.length, 0, 'one answer per request, nothing else');

    await log.settle();
    assert.ok(!log.lines().some((line) => line.includes(legacy.sessionId)), 'the access log does not print the session id');
    assert.ok(log.requests('POST', '/messages').some((entry) => entry.line.includes('POST /messages?sessionId=REDACTED ')), log.summary());
  });

  it('audience (RFC 8707): /mcp and /sse are two doors of one server, so each accepts tokens issued for either; every token keeps the audience it was issued for', async () => {
    const viaSse = await session(mcpTokens.access_token);
    assert.equal((await initialize(viaSse, mcpTokens.access_token)).protocolVersion, LEGACY_PROTOCOL, 'GET /sse and POST /messages with a token for /mcp');
    const legacy = await session(sseTokens.access_token);
    assert.equal((await initialize(legacy, mcpTokens.access_token)).protocolVersion, LEGACY_PROTOCOL, 'a session opened with one, used with the other (same user, same client)');
    const atMcp = await mcpRequest(server, sseTokens.access_token, initializeMessage(1));
    assert.equal(atMcp.status, 200, `POST /mcp with a token for /sse: ${atMcp.text}`);

    // The authorization server binds each token to the resource asked for, and keeps it there.
    assert.equal((await introspect(server, client.clientId, sseTokens.access_token)).json!.aud, server.sseUrl);
    assert.equal((await introspect(server, client.clientId, mcpTokens.access_token)).json!.aud, server.mcpUrl);
    const fresh = await client.authorize(new FormBrowser(server.url), ADMIN, { resource: server.sseUrl });
    const elsewhere = await client.refresh(fresh.refresh_token, { resource: server.mcpUrl });
    assert.equal(elsewhere.status, 400, elsewhere.text);
    assert.equal(elsewhere.json!.error, 'invalid_target', 'a refresh token for /sse cannot be turned into a token for /mcp');
    const refreshed = tokensOf(await client.refresh(fresh.refresh_token));
    assert.equal((await introspect(server, client.clientId, refreshed.access_token)).json!.aud, server.sseUrl, 'refreshing without resource keeps /sse');
    const again = await session(refreshed.access_token);
    assert.equal((await initialize(again, refreshed.access_token)).protocolVersion, LEGACY_PROTOCOL);
  });

  it('a client that sends no resource gets a token for /mcp, and can use /sse with it (no sign-in loop)', async () => {
    const tokens = await client.authorize(new FormBrowser(server.url), ADMIN, { resource: null });
    assert.equal((await introspect(server, client.clientId, tokens.access_token)).json!.aud, server.mcpUrl);
    const legacy = await session(tokens.access_token);
    assert.equal((await initialize(legacy, tokens.access_token)).protocolVersion, LEGACY_PROTOCOL);
    const uuids = toolResult(await call(legacy, tokens.access_token, toolsCallMessage(2, 'generate_uuid'))).structuredContent!.uuids as string[];
    assert.ok(isUuidV4(uuids[0]!), uuids.join(' '));
  });

  it('a session belongs to the user and client that opened it: another user\'s token, or another client\'s, gets 404 and a log line, and nothing is delivered', async () => {
    const log = await serverLog(server);
    const legacy = await session(sseTokens.access_token);
    await initialize(legacy, sseTokens.access_token);
    const bobs = await client.authorize(new FormBrowser(server.url), BOB, { resource: server.sseUrl });
    const otherClient = await RawOAuthClient.registerLoopback(server);
    const adminElsewhere = await otherClient.authorize(new FormBrowser(server.url), ADMIN, { resource: server.sseUrl });
    for (const [who, token] of [['bob through the same client', bobs.access_token], ['admin through another client', adminElsewhere.access_token]] as const) {
      jsonRpcError(await postMessage(legacy.endpoint, token, toolsCallMessage(90, 'get_user_profile')), 404, -32001, who);
    }
    await log.settle();
    assert.ok(log.events('mcp.session_owner_mismatch').some((event) => event.fields.session === legacy.sessionId.slice(0, 8)), log.lines().join('\n'));
    // The owner's next answer is the first thing on the stream: the refused calls were never run.
    const mine = await call(legacy, sseTokens.access_token, toolsCallMessage(7, 'get_user_profile'));
    assert.equal(toolResult(mine).structuredContent!.username, 'admin');
    assert.equal(legacy.stream.pending.length, 0);
    // A legacy session id is not a Streamable HTTP session.
    jsonRpcError(await mcpRequest(server, mcpTokens.access_token, toolsCallMessage(8, 'generate_uuid'), { sessionId: legacy.sessionId }), 404, -32001, 'an SSE session id at /mcp');
  });

  it('bad input at /messages gets JSON-RPC errors: unknown session 404, no session 400, malformed JSON 400 parse error, not JSON-RPC 400, wrong content type 415, over 1 MiB 413', async () => {
    const legacy = await session(sseTokens.access_token);
    const token = sseTokens.access_token;
    const unknown = new URL(legacy.endpoint);
    unknown.searchParams.set('sessionId', '00000000-0000-4000-8000-000000000000');
    jsonRpcError(await postMessage(unknown, token, legacyInitialize(1)), 404, -32001, 'unknown session');
    jsonRpcError(await postMessage(`${server.url}/messages`, token, legacyInitialize(1)), 400, -32000, 'no sessionId');
    jsonRpcError(await postMessage(legacy.endpoint, token, undefined, { rawBody: '{"jsonrpc":"2.0","id":1,"method":' }), 400, -32700, 'malformed JSON');
    jsonRpcError(await postMessage(legacy.endpoint, token, { hello: 'world' }), 400, -32600, 'JSON that is not a JSON-RPC message');
    jsonRpcError(await postMessage(legacy.endpoint, token, legacyInitialize(1), { headers: { 'content-type': 'text/plain' } }), 415, -32600, 'text/plain');
    const huge = JSON.stringify({ ...toolsCallMessage(2, 'generate_uuid'), padding: 'x'.repeat(MIB + 10) });
    jsonRpcError(await postMessage(legacy.endpoint, token, undefined, { rawBody: huge }), 413, -32600, 'a body over 1 MiB');
    // The session survived all of it.
    assert.equal((await initialize(legacy, token)).protocolVersion, LEGACY_PROTOCOL);
    assert.equal(legacy.stream.pending.length, 0, 'no error was sent down the stream');
  });

  it('POST /sse (a client probing for Streamable HTTP) gets 404, other wrong methods 405 with Allow, all after the token check; HEAD with a token opens no session', async () => {
    const probe = { method: 'POST', body: JSON.stringify(legacyInitialize(1)) };
    assertChallenge(await request(server.sseUrl, probe), sseMetadataUrl(server), undefined, 'POST /sse without a token');
    const notFound = await request(server.sseUrl, { ...probe, headers: { authorization: `Bearer ${sseTokens.access_token}`, 'content-type': 'application/json' } });
    jsonRpcError(notFound, 404, -32000, 'POST /sse');
    assert.match(String((notFound.json?.error as { message?: string } | undefined)?.message), /Streamable HTTP is at \/mcp/);
    for (const [method, path, allow] of [['DELETE', '/sse', 'GET, HEAD, OPTIONS'], ['PUT', '/sse', 'GET, HEAD, OPTIONS'], ['GET', '/messages', 'POST, OPTIONS'], ['PUT', '/messages', 'POST, OPTIONS']] as const) {
      const body = method === 'PUT' ? JSON.stringify(legacyInitialize(1)) : undefined;
      assertChallenge(await request(`${server.url}${path}`, { method, body }), sseMetadataUrl(server), undefined, `${method} ${path} without a token`);
      const reply = await request(`${server.url}${path}`, { method, body, headers: { authorization: `Bearer ${sseTokens.access_token}`, 'content-type': 'application/json' } });
      jsonRpcError(reply, 405, -32000, `${method} ${path}`);
      assert.equal(reply.headers.get('allow'), allow, `${method} ${path}`);
    }
    const log = await serverLog(server);
    const head = await request(server.sseUrl, { method: 'HEAD', headers: { authorization: `Bearer ${sseTokens.access_token}` } });
    assert.equal(head.status, 200);
    assert.match(head.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(head.text, '');
    await log.settle();
    assert.deepEqual(log.events('mcp.session_opened'), [], 'no session opened for HEAD');
    assert.deepEqual(log.requests('HEAD', '/sse').map((entry) => entry.status), [200], 'the HEAD was answered and logged');
  });

  it('CORS: preflights answered without a token, the challenge readable, pages on this machine allowed and other origins refused with 403', async () => {
    for (const [path, method, headers] of [['/sse', 'GET', 'authorization'], ['/messages', 'POST', 'authorization, content-type']] as const) {
      const preflight = await request(`${server.url}${path}`, { method: 'OPTIONS', headers: { origin: 'http://localhost:5173', 'access-control-request-method': method, 'access-control-request-headers': headers } });
      assert.equal(preflight.status, 204, `${path}: ${preflight.text}`);
      assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
      assert.match(preflight.headers.get('access-control-allow-methods') ?? '', new RegExp(method));
      for (const header of headers.split(', ')) assert.match(preflight.headers.get('access-control-allow-headers') ?? '', new RegExp(header, 'i'), `${path} allows ${header}`);
      assert.doesNotMatch(preflight.headers.get('access-control-allow-headers') ?? '', /last-event-id/i, `${path}: the 2024-11-05 transport cannot resume a stream`);
    }
    const challenge = await request(server.sseUrl, { headers: { origin: 'http://localhost:5173' } });
    assert.equal(challenge.status, 401);
    assert.match(challenge.headers.get('access-control-expose-headers') ?? '', /WWW-Authenticate/, 'a page can read where discovery starts');

    const refused = await SseStream.open(server.sseUrl, sseTokens.access_token, { origin: 'https://evil.example' });
    assert.equal(refused.status, 403, refused.text);
    const allowed = await SseStream.open(server.sseUrl, sseTokens.access_token, { origin: 'http://localhost:5173' });
    open.push(allowed);
    assert.equal(allowed.status, 200, allowed.text);
    assert.equal(allowed.headers.get('access-control-allow-origin'), '*');
    assert.equal((await allowed.next()).event, 'endpoint');
  });

  it('consent covers both transports: a client the user allowed for /mcp is only asked to continue for /sse', async () => {
    const browser = new FormBrowser(server.url);
    const app = await RawOAuthClient.registerLoopback(server);
    await app.authorize(browser, ADMIN);
    const authRequest = app.authorizationRequest({ resource: server.sseUrl });
    const page = consentPage(await browser.open(authRequest.url), 'second authorization, for /sse');
    assert.match(page.html, /<h1>Continue\?<\/h1>/, 'the short confirmation, not the full consent page');
    assert.match(page.html, /You allowed this application before/);
    const code = codeFrom(await browser.submit(page, formWithAction(page, '/confirm')), app.redirectUri, authRequest.state);
    const tokens = tokensOf(await app.exchange(code, authRequest.verifier, { resource: server.sseUrl }));
    const legacy = await session(tokens.access_token);
    assert.equal((await initialize(legacy, tokens.access_token)).protocolVersion, LEGACY_PROTOCOL);
  });

});

describe(compatibilitySuite({ client: 'MCP TypeScript SDK (v1)', version: dependencyVersion('@modelcontextprotocol/sdk'), transport: 'HTTP+SSE (2024-11-05)', registration: 'dynamic registration' }), () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  it('the official SDK client: SSEClientTransport with an OAuthClientProvider discovers from /sse, registers, signs in, gets a token for /sse and calls tools over the stream', async () => {
    const redirect = loopbackRedirect(await freePort());
    const oauth = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
    await authorizeSdkClient(server, oauth, { transport: 'sse' });
    assert.equal(oauth.authorizationUrl!.searchParams.get('resource'), server.sseUrl, 'the SDK asked for the resource its metadata named');
    assert.ok(oauth.clientInfo?.client_id, 'registered dynamically');
    const accessToken = oauth.savedTokens!.access_token;
    assert.equal((await introspect(server, oauth.clientInfo.client_id, accessToken)).json!.aud, server.sseUrl);

    const sdk = await connectSdkClient(server, oauth, { transport: 'sse' });
    try {
      const { tools } = await sdk.listTools();
      assert.deepEqual(tools.map((tool) => tool.name).sort(), ['generate_uuid', 'get_user_profile']);
      const [uuid] = await generateUuids(sdk);
      assert.ok(isUuidV4(uuid!), uuid);
      assert.ok((await generateUuids(sdk, { version: 'v7', count: 2 })).every(isUuidV7));
    } finally {
      await sdk.close();
    }
  });
});

describe('legacy sessions share the session caps with /mcp, and end with their stream', () => {
  let server: ServerProcess;
  let sseToken: string;
  let mcpToken: string;
  const streams: SseStream[] = [];
  before(async () => {
    server = await startServerProcess({ env: { MCP_MAX_SESSIONS_PER_USER: '2' } });
    const client = await RawOAuthClient.registerLoopback(server);
    const browser = new FormBrowser(server.url);
    sseToken = (await client.authorize(browser, ADMIN, { resource: server.sseUrl })).access_token;
    mcpToken = (await client.authorize(browser, ADMIN)).access_token;
  });
  after(async () => {
    streams.forEach((stream) => stream.close());
    await server?.stop();
  });

  const sessionGone = async (legacy: LegacySession) => (await postMessage(legacy.endpoint, sseToken, legacyInitialize(1))).status === 404;

  it('an open stream is a session in use: an idle /mcp session of the same user and client makes room, two open streams refuse a third (429), a closed stream ends its session', async () => {
    const mcpSession = await openSession(server, mcpToken);
    const first = await openLegacySession(server, sseToken);
    const second = await openLegacySession(server, sseToken);
    streams.push(first.stream, second.stream);
    jsonRpcError(await mcpRequest(server, mcpToken, toolsCallMessage(2, 'generate_uuid'), { sessionId: mcpSession }), 404, -32001, 'the idle /mcp session was closed to make room');

    const third = await SseStream.open(server.sseUrl, sseToken);
    assert.equal(third.status, 429, `two streams open, none idle: ${third.text}`);
    assert.equal((JSON.parse(third.text!) as { error: { code: number } }).error.code, -32000);

    first.stream.close();
    await eventually(async () => assert.ok(await sessionGone(first), 'the session of a closed stream is forgotten (within 5 s)'), 5_000, 50);
    // The log line travels on another pipe than the 404, and may come a moment later.
    await eventually(() => assert.match(server.output(), new RegExp(`mcp\\.session_closed session=${first.sessionId.slice(0, 8)}[^\\n]*reason=stream_closed`)));
    const replacement = await openLegacySession(server, sseToken);
    streams.push(replacement.stream);
    assert.equal((await initialize(replacement, sseToken)).protocolVersion, LEGACY_PROTOCOL);
    assert.equal((await initialize(second, sseToken)).protocolVersion, LEGACY_PROTOCOL, 'the other stream was untouched');
  });

  it('shutdown ends every open stream, and the process exits cleanly', { timeout: 20_000 }, async () => {
    const live = streams.filter((stream) => !stream.isEnded);
    assert.equal(live.length, 2, 'two streams still open');
    const exit = server.stop();
    await within(Promise.all(live.map((stream) => stream.ended)), 8_000, 'the open streams ending after SIGTERM');
    assert.equal(await exit, 0);
    assert.match(server.output(), /mcp\.session_closed[^\n]*reason=shutdown/);
  });
});

describe('a token for a resource this server does not serve is refused at both doors', () => {
  let server: ServerProcess;
  after(async () => {
    await server?.stop();
  });

  it('after a restart with LEGACY_SSE=false, a token issued for /sse gets 401 at /mcp (pointing at /mcp\'s metadata), while a token for /mcp still works', async () => {
    const first = await startServerProcess();
    const client = await RawOAuthClient.registerLoopback(first);
    const browser = new FormBrowser(first.url);
    const sseToken = (await client.authorize(browser, ADMIN, { resource: first.sseUrl })).access_token;
    const mcpToken = (await client.authorize(browser, ADMIN)).access_token;
    assert.equal((await mcpRequest(first, sseToken, initializeMessage(1))).status, 200, 'while /sse is served, its token works at /mcp');
    server = await restartServer(first, { env: { LEGACY_SSE: 'false' } });
    assertChallenge(await mcpRequest(server, sseToken, initializeMessage(1)), mcpMetadataUrl(server), 'invalid_token', 'POST /mcp with a token for /sse, no longer a resource here');
    assert.equal((await mcpRequest(server, mcpToken, initializeMessage(1))).status, 200);
  });
});

describe('STATELESS=true: no legacy transport', () => {
  let server: ServerProcess;
  let client: RawOAuthClient;
  before(async () => {
    server = await startServerProcess({ env: { STATELESS: 'true' } });
    client = await RawOAuthClient.registerLoopback(server);
  });
  after(async () => {
    await server?.stop();
  });

  it('serves no /sse, no /messages and no metadata for them, and issues no token for /sse', async () => {
    const tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
    for (const path of ['/sse', '/messages?sessionId=x']) {
      const reply = await request(`${server.url}${path}`, { method: path === '/sse' ? 'GET' : 'POST', headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' }, body: path === '/sse' ? undefined : '{}' });
      assert.equal(reply.status, 404, `${path}: ${reply.text}`);
    }
    assert.equal((await request(sseMetadataUrl(server))).status, 404);
    const authRequest = client.authorizationRequest({ resource: server.sseUrl });
    const refused = await request(authRequest.url);
    assert.ok(refused.status === 302 || refused.status === 303, `${refused.status} ${refused.text.slice(0, 200)}`);
    const location = new URL(refused.headers.get('location')!);
    assert.equal(location.searchParams.get('error'), 'invalid_target', location.href);
  });
});
