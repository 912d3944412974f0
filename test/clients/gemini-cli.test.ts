import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import type { MCPServerConfig } from '@google/gemini-cli-core';
import {
  assertGeminiAuthorized,
  assertToolOutputs,
  GEMINI_CORE_VERSION,
  geminiMcpContext,
  geminiTestbed,
  refreshOf,
  signInThroughGemini,
  storedCredentials,
  withGeminiTools,
  writeTokenFile,
} from '../support/gemini-cli.js';
import { assertMcpPostsCarried, assertOneRefresh, requestsTo } from '../support/fetch-recorder.js';
import { compatibilitySuite } from '../support/compatibility.js';
import { ADMIN, restartServer } from '../support/server-process.js';
import { isUuidV4, isUuidV7 } from '../support/uuids.js';

/**
 * Gemini CLI's own MCP OAuth code (`@google/gemini-cli-core`, pinned in test/third-party/package.json): what
 * `/mcp auth uuid` runs (discovery, its registration, PKCE, its RFC 9207 `iss` check, the token
 * exchange, its token file), with only the person and the browser replaced (FormBrowser submits
 * the real login and consent forms); then the connect path Gemini uses at startup, with the token it
 * stored: tools/list and tools/call, refresh ahead of expiry, and again after the server restarts.
 */

const NAME = 'uuid';
const MINUTE = 60_000;

describe(compatibilitySuite({ client: 'Gemini CLI core (library)', version: GEMINI_CORE_VERSION, transport: 'Streamable HTTP', registration: 'dynamic registration' }), () => {
  const bed = geminiTestbed();
  const mcpContext = geminiMcpContext();
  const serverConfig = (): MCPServerConfig => ({ httpUrl: bed.server.mcpUrl, oauth: { enabled: true } });

  /** Gemini's startup path for an `httpUrl` server with `oauth.enabled`: connect, list tools, call them. */
  const connectAndUseTools = (expectToken?: string) => withGeminiTools(bed.gemini, NAME, serverConfig(), mcpContext, async ({ tools, run }) => {
    const v4 = (await run('generate_uuid')).trim();
    const v7 = (await run('generate_uuid', { version: 'v7' })).trim();
    const profile = await run('get_user_profile');
    // initialize, notifications/initialized, tools/list and three tools/call, all with the token Gemini stored.
    if (expectToken) assertMcpPostsCarried(bed.since(), expectToken, 5);
    return { tools, v4, v7, profile };
  });

  const stored = () => storedCredentials(bed.tokenFile);

  it('/mcp auth: discovery, registration, PKCE, sign-in and consent through the forms, iss, token exchange, token file', { timeout: 60_000 }, async () => {
    bed.step();
    const provider = new bed.gemini.MCPOAuthProvider(new bed.gemini.MCPOAuthTokenStorage());
    const signIn = await signInThroughGemini(bed.gemini, bed.server.url, ADMIN, () => provider.authenticate(NAME, { enabled: true }, bed.server.mcpUrl)).catch(bed.explain);
    assert.match(signIn.prompts.join('\n'), /Authentication required for MCP Server: 'uuid\.'/, 'Gemini asked for consent first');
    assert.ok(fs.existsSync(bed.tokenFile), 'token file written');
    const credentials = stored();
    assert.equal(credentials.serverName, NAME);
    await assertGeminiAuthorized({ gemini: bed.gemini, requests: bed.since(), serverUrl: bed.server.url, resource: bed.server.mcpUrl, signIn, browserLaunches: bed.sandbox.browserLaunches(), tokenFile: bed.tokenFile, credentials });
  });

  it('connect with the stored token: tools/list and tools/call through Gemini\'s own MCP client', { timeout: 60_000 }, async () => {
    const before = stored();
    bed.step();
    const outputs = await connectAndUseTools(before.token.accessToken).catch(bed.explain);
    assertToolOutputs(outputs);
    assert.equal(requestsTo(bed.since(), 'POST', '/token').length, 0, 'no refresh needed for a fresh token');
    assert.equal(stored().token.accessToken, before.token.accessToken);
  });

  it('refresh ahead of expiry: Gemini refreshes a token within 5 minutes of expiring, and the tools still work', { timeout: 60_000 }, async () => {
    const before = stored();
    writeTokenFile(bed.tokenFile, [{ ...before, token: { ...before.token, expiresAt: Date.now() + MINUTE } }]);
    bed.step();
    const { v4 } = await connectAndUseTools().catch(bed.explain);
    assertOneRefresh(bed.since(), refreshOf(before, bed.server.mcpUrl));

    const after = stored();
    assert.notEqual(after.token.accessToken, before.token.accessToken, 'a new access token in the file');
    assert.notEqual(after.token.refreshToken, before.token.refreshToken, 'the rotated refresh token in the file');
    assert.ok(after.token.expiresAt! > Date.now() + 5 * MINUTE);
    assert.equal(after.clientId, before.clientId);
    assertMcpPostsCarried(bed.since(), after.token.accessToken, 5); // the refreshed token
    assert.ok(isUuidV4(v4), v4);
  });

  it('after the server restarts on the same data: the stored token still works, and so does refreshing it', { timeout: 60_000 }, async () => {
    const before = stored();
    bed.server = await restartServer(bed.server, { env: { PATH: bed.sandbox.originalPath } });

    bed.step();
    const { v4, v7 } = await connectAndUseTools(before.token.accessToken).catch(bed.explain);
    assert.ok(isUuidV4(v4), v4);
    assert.ok(isUuidV7(v7), v7);
    assert.equal(requestsTo(bed.since(), 'POST', '/token').length, 0, 'the stored access token was accepted as is');
    assert.ok(!bed.since().some((request) => request.url.pathname === '/register'), 'no new registration');
    assert.deepEqual(stored(), before, 'token file untouched');

    // The refresh token survives the restart too.
    writeTokenFile(bed.tokenFile, [{ ...before, token: { ...before.token, expiresAt: Date.now() + MINUTE } }]);
    bed.step();
    const refreshed = await connectAndUseTools().catch(bed.explain);
    assert.ok(isUuidV4(refreshed.v4), refreshed.v4);
    assertOneRefresh(bed.since(), refreshOf(before, bed.server.mcpUrl));
    assert.notEqual(stored().token.accessToken, before.token.accessToken);
  });
});
