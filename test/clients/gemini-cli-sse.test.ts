import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import type { MCPServerConfig, OAuthCredentials } from '@google/gemini-cli-core';
import { compatibilitySuite } from '../support/compatibility.js';
import {
  assertGeminiAuthorized,
  assertToolOutputs,
  GEMINI_CORE_VERSION,
  geminiMcpContext,
  geminiTestbed,
  readTokenFile,
  refreshOf,
  signInThroughGemini,
  storedCredentials,
  withGeminiTools,
  writeTokenFile,
  type RecordedRequest,
} from '../support/gemini-cli.js';
import { assertOneRefresh, requestsTo } from '../support/fetch-recorder.js';
import { ADMIN, restartServer } from '../support/server-process.js';
import { serverLog, type ServerLog } from '../support/server-log.js';
import { introspect } from '../support/token-checks.js';
import { isUuidV4, isUuidV7 } from '../support/uuids.js';

/**
 * Gemini CLI's own code against the legacy HTTP+SSE transport, configured the way its docs show
 * for SSE servers: `{ "url": "http://localhost:8080/sse", "oauth": { "enabled": true } }`.
 *
 * What Gemini 0.61.0 does with such a server (read from its mcp-client.js): a `url` without `type`
 * is tried as Streamable HTTP first (POST to the URL); when that fails with anything but 401 it
 * falls back to the SSE transport, with the OAuth token it stored, sent as an Authorization header
 * on the GET and on every POST. So `/mcp auth uuid` (MCPOAuthProvider.authenticate for the URL)
 * followed by the startup connect works end to end; that is the suite below. Signing in from the
 * connect itself is a separate story, see the last describe.
 */

const NAME = 'uuid';
const MINUTE = 60_000;

/**
 * The requests of one connect over the legacy transport: Streamable HTTP refused, then the SSE
 * stream and its messages, all with `token`. Whether each message was accepted is read from the
 * server's access log: Gemini reads each answer from the stream and may close before the 202 of
 * the last POST has reached its fetch.
 */
async function assertConnectedOverSse(requests: RecordedRequest[], token: string, log: ServerLog): Promise<void> {
  const probe = requests.find((request) => request.url.pathname === '/sse' && request.method === 'POST');
  assert.ok(probe, 'Gemini first tried Streamable HTTP at the url (POST /sse)');
  assert.equal(probe.status, 404, 'the server says /sse is no Streamable HTTP endpoint, and Gemini falls back to SSE');
  const streams = requests.filter((request) => request.url.pathname === '/sse' && request.method === 'GET');
  assert.equal(streams.length, 1, 'one event stream');
  assert.equal(streams[0]!.status, 200);
  const messages = requests.filter((request) => request.url.pathname === '/messages' && request.method === 'POST');
  assert.ok(messages.length >= 4, `initialize, initialized, tools/list and the tool calls went to /messages (${messages.length} POSTs)`);
  for (const request of [probe, streams[0]!, ...messages]) {
    assert.equal(request.authorization, `Bearer ${token}`, `${request.method} ${request.url.pathname} carried the token Gemini stored`);
  }
  await log.settle();
  assert.deepEqual(log.requests('POST', '/messages').map((entry) => entry.status), messages.map(() => 202), `every message accepted:\n${log.summary()}`);
  assert.ok(!requests.some((request) => request.url.pathname === '/mcp'), 'nothing went to /mcp');
}

describe(compatibilitySuite({ client: 'Gemini CLI core (library)', version: GEMINI_CORE_VERSION, transport: 'HTTP+SSE (2024-11-05)', registration: 'dynamic registration' }), () => {
  const bed = geminiTestbed();
  const mcpContext = geminiMcpContext();
  const serverConfig = (): MCPServerConfig => ({ url: bed.server.sseUrl, oauth: { enabled: true } });

  /** Connects as Gemini does at startup and makes the three tool calls; returns what they printed. */
  const connectAndUseTools = () => withGeminiTools(bed.gemini, NAME, serverConfig(), mcpContext, async ({ tools, run }) => ({
    tools,
    v4: (await run('generate_uuid')).trim(),
    v7: (await run('generate_uuid', { version: 'v7' })).trim(),
    profile: await run('get_user_profile'),
  }));

  const stored = () => storedCredentials(bed.tokenFile);

  it('/mcp auth for the /sse url: discovery from /sse, registration, PKCE, sign-in and consent through the forms, resource=/sse, token file', { timeout: 60_000 }, async () => {
    bed.step();
    const provider = new bed.gemini.MCPOAuthProvider(new bed.gemini.MCPOAuthTokenStorage());
    const signIn = await signInThroughGemini(bed.gemini, bed.server.url, ADMIN, () => provider.authenticate(NAME, { enabled: true }, bed.server.sseUrl)).catch(bed.explain);
    assert.match(signIn.prompts.join('\n'), /Authentication required for MCP Server: 'uuid\.'/, 'Gemini asked for consent first');
    const credentials = stored();
    assert.equal(credentials.serverName, NAME);
    await assertGeminiAuthorized({ gemini: bed.gemini, requests: bed.since(), serverUrl: bed.server.url, resource: bed.server.sseUrl, signIn, browserLaunches: bed.sandbox.browserLaunches(), tokenFile: bed.tokenFile, credentials });
    const introspection = await introspect(bed.server, credentials.clientId!, credentials.token.accessToken);
    assert.equal(introspection.json?.aud, bed.server.sseUrl, 'the token is bound to /sse');
  });

  it('connect with the stored token: Streamable HTTP refused (404), then the SSE stream: tools/list and tools/call through Gemini\'s own MCP client', { timeout: 60_000 }, async () => {
    const before = stored();
    bed.step();
    const log = await serverLog(bed.server);
    const outputs = await connectAndUseTools().catch(bed.explain);
    assertToolOutputs(outputs);
    await assertConnectedOverSse(bed.since(), before.token.accessToken, log);
    assert.equal(requestsTo(bed.since(), 'POST', '/token').length, 0, 'no refresh needed for a fresh token');
    assert.equal(stored().token.accessToken, before.token.accessToken);
    assert.match(bed.debugLog.lines.join('\n'), /HTTP returned 404, trying SSE transport/, 'Gemini says why it switched');
  });

  it('refresh ahead of expiry: Gemini refreshes a token within 5 minutes of expiring (resource=/sse), and the tools still work over SSE', { timeout: 60_000 }, async () => {
    const before = stored();
    writeTokenFile(bed.tokenFile, [{ ...before, token: { ...before.token, expiresAt: Date.now() + MINUTE } }]);
    bed.step();
    const log = await serverLog(bed.server);
    const { v4 } = await connectAndUseTools().catch(bed.explain);
    assertOneRefresh(bed.since(), refreshOf(before, bed.server.sseUrl));
    const after = stored();
    assert.notEqual(after.token.accessToken, before.token.accessToken, 'a new access token in the file');
    assert.notEqual(after.token.refreshToken, before.token.refreshToken, 'the rotated refresh token in the file');
    assert.ok(after.token.expiresAt! > Date.now() + 5 * MINUTE);
    await assertConnectedOverSse(bed.since(), after.token.accessToken, log);
    assert.ok(isUuidV4(v4), v4);
  });

  it('after the server restarts on the same data and port: the stored token still works over SSE, and so does refreshing it', { timeout: 60_000 }, async () => {
    const before = stored();
    bed.server = await restartServer(bed.server, { env: { PATH: bed.sandbox.originalPath } });

    bed.step();
    const log = await serverLog(bed.server);
    const { v4, v7 } = await connectAndUseTools().catch(bed.explain);
    assert.ok(isUuidV4(v4), v4);
    assert.ok(isUuidV7(v7), v7);
    await assertConnectedOverSse(bed.since(), before.token.accessToken, log);
    assert.equal(requestsTo(bed.since(), 'POST', '/token').length, 0, 'the stored access token was accepted as is');
    assert.deepEqual(stored(), before, 'token file untouched');

    writeTokenFile(bed.tokenFile, [{ ...before, token: { ...before.token, expiresAt: Date.now() + MINUTE } }]);
    bed.step();
    const refreshed = await connectAndUseTools().catch(bed.explain);
    assert.ok(isUuidV4(refreshed.v4), refreshed.v4);
    assertOneRefresh(bed.since(), refreshOf(before, bed.server.sseUrl));
    assert.notEqual(stored().token.accessToken, before.token.accessToken);
  });
});

/**
 * Signing in from the startup connect itself (oauth.enabled and no stored token), which Gemini
 * does without `/mcp auth`. With `"type": "sse"` the 401 on GET /sse starts Gemini's discovery and
 * sign-in, and its retry builds an SSE transport with the new token. With a `url` and no `type`
 * the first attempt is Streamable HTTP (POST → 401); after signing in, Gemini 0.61.0's
 * `retryWithOAuth` retries Streamable HTTP and falls back to SSE only if that error's text
 * contains "404" (`String(httpError).includes('404')`): this is why the server answers a POST to
 * /sse with 404 rather than 405 (the MCP spec's backwards-compatibility section allows either).
 */
describe('Gemini CLI signing in from its startup connect to a /sse url', () => {
  const bed = geminiTestbed();
  const mcpContext = geminiMcpContext();

  const connect = (name: string, config: MCPServerConfig) =>
    bed.gemini.connectToMcpServer(GEMINI_CORE_VERSION, name, config, false, new bed.gemini.WorkspaceContext(process.cwd()), mcpContext);
  const credentialsFor = (name: string) => (fs.existsSync(bed.tokenFile) ? readTokenFile(bed.tokenFile).find((entry) => entry.serverName === name) : undefined);

  /** The connect signs in as `name` (the person plays along) and then lists both tools; returns what it stored and the requests it made. */
  async function signInFromConnect(name: string, config: MCPServerConfig): Promise<{ credentials: OAuthCredentials; requests: RecordedRequest[] }> {
    bed.step();
    const signIn = await signInThroughGemini(bed.gemini, bed.server.url, ADMIN, () => connect(name, config)).catch(bed.explain);
    const client = signIn.result;
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((tool) => tool.name).sort(), ['generate_uuid', 'get_user_profile']);
    } finally {
      await client.close();
    }
    assert.equal(signIn.authUrl.searchParams.get('resource'), bed.server.sseUrl);
    const credentials = credentialsFor(name);
    assert.ok(credentials, 'Gemini stored the token');
    return { credentials, requests: bed.since() };
  }

  it('with "type": "sse": the connect signs in (resource=/sse) and connects over SSE with the new token', { timeout: 60_000 }, async () => {
    const { credentials, requests } = await signInFromConnect('uuid-sse', { url: bed.server.sseUrl, type: 'sse', oauth: { enabled: true } });
    const firstGet = requests.find((request) => request.method === 'GET' && request.url.pathname === '/sse');
    assert.equal(firstGet?.status, 401, 'the first GET /sse had no token and was refused');
    assert.equal(firstGet?.authorization, null);
    const streams = requests.filter((request) => request.method === 'GET' && request.url.pathname === '/sse' && request.status === 200);
    assert.equal(streams.length, 1);
    assert.equal(streams[0]!.authorization, `Bearer ${credentials.token.accessToken}`, 'the retry carried the new token');
    assert.ok(!requests.some((request) => request.url.pathname === '/sse' && request.method === 'POST'), 'no Streamable HTTP attempt with "type": "sse"');
  });

  it('with a url and no type: the connect signs in, its Streamable HTTP retry gets 404, and it connects over SSE with the new token', { timeout: 60_000 }, async () => {
    const { credentials, requests } = await signInFromConnect('uuid-url', { url: bed.server.sseUrl, oauth: { enabled: true } });
    assert.equal(credentials.mcpServerUrl, bed.server.sseUrl);
    const posts = requests.filter((request) => request.url.pathname === '/sse' && request.method === 'POST');
    assert.deepEqual(posts.map((request) => request.status), [401, 404], 'Streamable HTTP without a token (401), then with the new one (404)');
    assert.equal(posts[1]!.authorization, `Bearer ${credentials.token.accessToken}`);
    const streams = requests.filter((request) => request.url.pathname === '/sse' && request.method === 'GET');
    assert.deepEqual(streams.map((request) => request.status), [200], 'then one event stream, opened with the new token');
    assert.equal(streams[0]!.authorization, `Bearer ${credentials.token.accessToken}`);
  });
});
