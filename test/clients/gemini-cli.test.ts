import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DiscoveredMCPTool, McpContext, MCPServerConfig, OAuthCredentials } from '@google/gemini-cli-core';
import {
  answerConsentYes,
  captureDebugLog,
  GEMINI_CORE_VERSION,
  geminiSandbox,
  readTokenFile,
  recordFetch,
  waitForAuthorizationUrl,
  within,
  writeTokenFile,
  type GeminiCore,
  type GeminiSandbox,
  type RecordedRequest,
} from '../support/gemini-cli.js';
import { compatibilitySuite } from '../support/compatibility.js';
import { HeadlessBrowser, signInAndAllow } from '../support/headless-browser.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { isUuidV4, isUuidV7 } from '../support/uuids.js';

/**
 * Gemini CLI's own MCP OAuth code (`@google/gemini-cli-core`, pinned in test/package.json): what
 * `/mcp auth uuid` runs (discovery, its registration, PKCE, its RFC 9207 `iss` check, the token
 * exchange, its token file), with only the person and the browser replaced (HeadlessBrowser submits
 * the real login and consent forms); then the connect path Gemini uses at startup, with the token it
 * stored: tools/list and tools/call, refresh ahead of expiry, and again after the server restarts.
 */

const NAME = 'uuid';
const MINUTE = 60_000;

describe(compatibilitySuite({ client: 'Gemini CLI', version: GEMINI_CORE_VERSION, transport: 'Streamable HTTP', registration: 'dynamic registration' }), () => {
  let server: ServerProcess;
  let sandbox: GeminiSandbox;
  let gemini: GeminiCore;
  let recorder: ReturnType<typeof recordFetch>;
  let debugLog: ReturnType<typeof captureDebugLog> | undefined;
  let tokenFile: string;
  let serverConfig: MCPServerConfig;
  const mcpContext: McpContext = {
    sanitizationConfig: { allowedEnvironmentVariables: [], blockedEnvironmentVariables: [], enableEnvironmentVariableRedaction: true },
    emitMcpDiagnostic() {},
    isTrustedFolder: () => true,
  };
  /** The redirect URI Gemini registered; used to shut its callback server down if a test fails midway. */
  let pendingCallback: string | undefined;
  /** Which requests in `recorder.requests` belong to the current step. */
  let mark = 0;
  const since = () => recorder.requests.slice(mark);
  const step = () => {
    mark = recorder.requests.length;
  };

  before(async () => {
    sandbox = geminiSandbox();
    // The package reads its environment (home, storage mode) when used: import it after setting that.
    // The import takes seconds under tsx, so the server starts meanwhile (with the PATH it would have had).
    [server, gemini] = await Promise.all([
      startServerProcess({ env: { PATH: sandbox.originalPath } }),
      import('@google/gemini-cli-core'),
    ]);
    debugLog = captureDebugLog(gemini);
    recorder = recordFetch(server.url, (request) => request.url.pathname === '/register');
    tokenFile = path.join(sandbox.home, '.gemini', 'mcp-oauth-tokens.json');
    serverConfig = { httpUrl: server.mcpUrl, oauth: { enabled: true } };
  }, { timeout: 90_000 });

  after(async () => {
    if (pendingCallback) {
      // A flow that failed before the callback leaves Gemini's callback server listening; its own error path closes it.
      await fetch(`${pendingCallback}?error=test_aborted`, { signal: AbortSignal.timeout(2_000) }).catch(() => {});
    }
    recorder?.restore();
    debugLog?.restore();
    sandbox?.restore();
    await server?.stop();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  /** Fails with Gemini's own developer log attached, which says why a step of its flow gave up. */
  const explain = (error: unknown): never => {
    const tail = debugLog?.lines.slice(-40).join('\n') ?? '';
    throw Object.assign(error instanceof Error ? error : new Error(String(error)), {
      message: `${error instanceof Error ? error.message : String(error)}\n--- Gemini debug log (last lines) ---\n${tail}\n--- server output (last lines) ---\n${server.output().split('\n').slice(-20).join('\n')}`,
    });
  };

  /** Gemini's startup path for an `httpUrl` server with `oauth.enabled`: connect, list tools, call them. */
  async function connectAndUseTools(expectToken?: string): Promise<{ tools: DiscoveredMCPTool[]; v4: string; v7: string; profile: string }> {
    const workspace = new gemini.WorkspaceContext(process.cwd());
    const client = await within(gemini.connectToMcpServer(GEMINI_CORE_VERSION, NAME, serverConfig, false, workspace, mcpContext), 20_000, 'connectToMcpServer');
    try {
      const messageBus = new gemini.MessageBus(new gemini.PolicyEngine());
      const tools = await within(gemini.discoverTools(NAME, serverConfig, client, mcpContext, messageBus, { timeout: 10_000 }), 15_000, 'discoverTools');
      const run = async (serverToolName: string, args: Record<string, unknown>): Promise<string> => {
        const tool = tools.find((candidate) => candidate.serverToolName === serverToolName);
        assert.ok(tool, `Gemini discovered ${serverToolName}`);
        const result = await tool.build(args).execute({ abortSignal: AbortSignal.timeout(10_000) });
        assert.equal(result.error, undefined, `Gemini reports no tool error for ${serverToolName}: ${JSON.stringify(result.llmContent)}`);
        const parts = Array.isArray(result.llmContent) ? result.llmContent : [result.llmContent];
        // Gemini hands MCP text to the model wrapped in <untrusted_context> tags; the tool's own text is inside.
        const text = parts.map((part) => (typeof part === 'string' ? part : part.text ?? '')).join('');
        const wrapped = /^<untrusted_context>\n([\s\S]*)\n<\/untrusted_context>$/.exec(text);
        assert.ok(wrapped, `Gemini's wrapping of MCP output: ${text}`);
        return wrapped[1]!;
      };
      const v4 = (await run('generate_uuid', {})).trim();
      const v7 = (await run('generate_uuid', { version: 'v7' })).trim();
      const profile = await run('get_user_profile', {});
      if (expectToken) {
        const mcpRequests = since().filter((request) => request.url.pathname === '/mcp' && request.method === 'POST');
        assert.ok(mcpRequests.length >= 5, `initialize, tools/list and three tools/call went to /mcp (${mcpRequests.length} POSTs)`);
        for (const request of mcpRequests) {
          assert.equal(request.authorization, `Bearer ${expectToken}`, 'every MCP request carried the token Gemini stored');
          assert.ok(request.status === 200 || request.status === 202, `MCP request accepted (${request.status}): ${request.body?.slice(0, 80)}`);
        }
      }
      return { tools, v4, v7, profile };
    } finally {
      await within(client.close(), 5_000, 'closing the MCP client');
    }
  }

  const stored = (): OAuthCredentials => {
    assert.ok(fs.existsSync(tokenFile), `no Gemini token file at ${tokenFile}: the /mcp auth step did not complete`);
    const all = readTokenFile(tokenFile);
    assert.equal(all.length, 1, 'one server in the token file');
    return all[0]!;
  };

  const tokenRequests = (requests: RecordedRequest[]) =>
    requests.filter((request) => request.method === 'POST' && request.url.pathname === '/token').map((request) => new URLSearchParams(request.body));

  it('/mcp auth: discovery, registration, PKCE, sign-in and consent through the forms, iss, token exchange, token file', { timeout: 60_000 }, async () => {
    step();
    const flowTimeout = AbortSignal.timeout(30_000);
    const shown = waitForAuthorizationUrl(gemini, flowTimeout);
    const consent = answerConsentYes(gemini);
    const provider = new gemini.MCPOAuthProvider(new gemini.MCPOAuthTokenStorage());
    const authenticating = provider.authenticate(NAME, { enabled: true }, server.mcpUrl);
    authenticating.catch(() => {});
    let authUrl: URL;
    let callback: URL;
    try {
      authUrl = await Promise.race([shown.url, authenticating.then(() => assert.fail('authenticate finished without showing a URL'))]);
      pendingCallback = authUrl.searchParams.get('redirect_uri') ?? undefined;
      assert.match(consent.prompts.join('\n'), /Authentication required for MCP Server: 'uuid\.'/, 'Gemini asked for consent first');

      // Only the person and the browser are simulated: the real login and consent forms, then the redirect.
      callback = await within(signInAndAllow(new HeadlessBrowser(server.url), authUrl, ADMIN), 15_000, 'signing in and allowing');
      const delivered = await fetch(callback, { signal: AbortSignal.timeout(10_000) });
      const page = await delivered.text();
      assert.equal(delivered.status, 200, `Gemini's callback server accepted the redirect: ${page}`);
      assert.match(page, /Authentication Successful/);
      pendingCallback = undefined;
      await within(authenticating, 15_000, 'authenticate after the callback');
    } catch (error) {
      explain(error);
    } finally {
      shown.stop();
      consent.restore();
    }
    const requests = since();

    // Discovery as Gemini does it: HEAD /mcp → 401 with resource_metadata → PRM → AS metadata.
    const head = requests.find((request) => request.method === 'HEAD' && request.url.pathname === '/mcp');
    assert.ok(head, 'Gemini first probed the MCP URL with HEAD');
    assert.equal(head.status, 401, 'HEAD /mcp without a token is refused with 401');
    assert.match(head.wwwAuthenticate ?? '', /^Bearer .*resource_metadata="http:\/\/localhost:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    assert.ok(requests.some((request) => request.method === 'GET' && request.url.pathname === '/.well-known/oauth-protected-resource/mcp' && request.status === 200), 'Gemini read the protected resource metadata');
    assert.ok(requests.some((request) => request.method === 'GET' && request.url.pathname.startsWith('/.well-known/') && /oauth-authorization-server|openid-configuration/.test(request.url.pathname) && request.status === 200), 'Gemini read the authorization server metadata');
    const asMetadata = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`, { signal: AbortSignal.timeout(5_000) })).json()) as { issuer: string; token_endpoint: string; scopes_supported: string[] };
    assert.equal(asMetadata.issuer, server.url);

    // Gemini's registration: its body as it sent it, and the client the server created for it.
    const registrations = requests.filter((request) => request.method === 'POST' && request.url.pathname === '/register');
    assert.equal(registrations.length, 1, 'Gemini registered exactly once');
    const registration = registrations[0]!;
    assert.equal(registration.status, 201, `registration accepted: ${registration.responseBody}`);
    const sent = JSON.parse(registration.body!) as Record<string, unknown>;
    assert.equal(sent.client_name, 'Gemini CLI MCP Client');
    assert.equal(sent.token_endpoint_auth_method, 'none');
    assert.deepEqual(sent.grant_types, ['authorization_code', 'refresh_token']);
    assert.deepEqual(sent.response_types, ['code']);
    assert.equal(typeof sent.scope, 'string');
    assert.deepEqual((sent.scope as string).split(' ').sort(), [...asMetadata.scopes_supported].sort(), 'Gemini asks for every advertised scope');
    const redirectUri = (sent.redirect_uris as string[])[0]!;
    assert.match(redirectUri, /^http:\/\/localhost:\d+\/oauth\/callback$/);
    const registered = JSON.parse(registration.responseBody!) as { client_id: string; redirect_uris: string[]; token_endpoint_auth_method: string; client_secret?: string };
    assert.ok(registered.client_id, 'the server issued a client id');
    assert.deepEqual(registered.redirect_uris, [redirectUri]);
    assert.equal(registered.token_endpoint_auth_method, 'none');
    assert.equal(registered.client_secret, undefined, 'a public client gets no secret');

    // The authorization request: PKCE S256, the resource, the registered client and redirect.
    assert.equal(`${authUrl!.origin}${authUrl!.pathname}`, `${server.url}/auth`);
    assert.equal(authUrl!.searchParams.get('client_id'), registered.client_id);
    assert.equal(authUrl!.searchParams.get('redirect_uri'), redirectUri);
    assert.equal(authUrl!.searchParams.get('response_type'), 'code');
    assert.equal(authUrl!.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authUrl!.searchParams.get('resource'), server.mcpUrl, 'RFC 8707 resource is the MCP endpoint');
    assert.equal(authUrl!.searchParams.get('scope'), sent.scope);
    assert.deepEqual(sandbox.browserLaunches(), [authUrl!.href], 'Gemini launched "the browser" (the no-op shim) with the same URL');

    // The authorization response: back at Gemini's callback with code, state and iss (RFC 9207).
    assert.equal(`${callback!.origin}${callback!.pathname}`, redirectUri);
    assert.ok(callback!.searchParams.get('code'));
    assert.equal(callback!.searchParams.get('state'), authUrl!.searchParams.get('state'));
    assert.equal(callback!.searchParams.get('iss'), server.url, 'iss is the issuer Gemini discovered, and Gemini accepted it');

    // The token exchange: form-encoded, code_verifier matching the challenge, resource.
    const exchanges = tokenRequests(requests);
    assert.equal(exchanges.length, 1);
    const exchange = exchanges[0]!;
    assert.equal(exchange.get('grant_type'), 'authorization_code');
    assert.equal(exchange.get('client_id'), registered.client_id);
    assert.equal(exchange.get('redirect_uri'), redirectUri);
    assert.equal(exchange.get('resource'), server.mcpUrl);
    assert.equal(createHash('sha256').update(exchange.get('code_verifier')!).digest('base64url'), authUrl!.searchParams.get('code_challenge'), 'PKCE verifier matches the challenge');
    assert.equal(requests.find((request) => request.url.pathname === '/token')?.status, 200);
    assert.ok(
      requests.findIndex((request) => request.url.pathname === '/register') < requests.findIndex((request) => request.url.pathname === '/token'),
      'registration before the token exchange',
    );

    // What Gemini stored, where Gemini keeps it.
    assert.equal(gemini.Storage.getMcpOAuthTokensPath(), tokenFile, 'Gemini uses the token file under the temporary GEMINI_CLI_HOME');
    assert.ok(fs.existsSync(tokenFile), 'token file written');
    const credentials = stored();
    assert.equal(credentials.serverName, NAME);
    assert.equal(credentials.clientId, registered.client_id, 'the stored client is the one the server registered');
    assert.equal(credentials.tokenUrl, asMetadata.token_endpoint);
    assert.equal(credentials.mcpServerUrl, server.mcpUrl);
    assert.ok(credentials.token.accessToken, 'access token stored');
    assert.ok(credentials.token.refreshToken, 'refresh token stored');
    assert.equal(credentials.token.tokenType.toLowerCase(), 'bearer');
    assert.ok(credentials.token.expiresAt! > Date.now() + 5 * MINUTE, 'expiresAt stored, beyond Gemini\'s 5-minute refresh margin');
  });

  it('connect with the stored token: tools/list and tools/call through Gemini\'s own MCP client', { timeout: 60_000 }, async () => {
    const before = stored();
    step();
    const { tools, v4, v7, profile } = await connectAndUseTools(before.token.accessToken).catch(explain);
    assert.deepEqual(tools.map((tool) => tool.serverToolName).sort(), ['generate_uuid', 'get_user_profile']);
    assert.ok(tools.every((tool) => tool.name.startsWith('mcp_uuid_')), `Gemini's qualified tool names: ${tools.map((tool) => tool.name).join(', ')}`);
    assert.ok(isUuidV4(v4), `v4 by default: ${v4}`);
    assert.ok(isUuidV7(v7), `v7 on request: ${v7}`);
    assert.match(profile, /\(admin\), user id /, 'the profile of the person who signed in');
    assert.equal(tokenRequests(since()).length, 0, 'no refresh needed for a fresh token');
    assert.equal(stored().token.accessToken, before.token.accessToken);
  });

  it('refresh ahead of expiry: Gemini refreshes a token within 5 minutes of expiring, and the tools still work', { timeout: 60_000 }, async () => {
    const before = stored();
    writeTokenFile(tokenFile, [{ ...before, token: { ...before.token, expiresAt: Date.now() + MINUTE } }]);
    step();
    const { v4 } = await connectAndUseTools().catch(explain);
    const refreshes = tokenRequests(since());
    assert.equal(refreshes.length, 1, 'exactly one refresh');
    assert.equal(refreshes[0]!.get('grant_type'), 'refresh_token');
    assert.equal(refreshes[0]!.get('refresh_token'), before.token.refreshToken);
    assert.equal(refreshes[0]!.get('client_id'), before.clientId);
    assert.equal(refreshes[0]!.get('resource'), server.mcpUrl);
    assert.equal(since().find((request) => request.url.pathname === '/token')?.status, 200);

    const after = stored();
    assert.notEqual(after.token.accessToken, before.token.accessToken, 'a new access token in the file');
    assert.notEqual(after.token.refreshToken, before.token.refreshToken, 'the rotated refresh token in the file');
    assert.ok(after.token.expiresAt! > Date.now() + 5 * MINUTE);
    assert.equal(after.clientId, before.clientId);
    const mcpRequests = since().filter((candidate) => candidate.url.pathname === '/mcp' && candidate.method === 'POST');
    assert.ok(mcpRequests.length >= 5, `initialize, tools/list and three tools/call went to /mcp (${mcpRequests.length} POSTs)`);
    for (const request of mcpRequests) {
      assert.equal(request.authorization, `Bearer ${after.token.accessToken}`, 'MCP requests used the refreshed token');
      assert.ok(request.status === 200 || request.status === 202, `MCP request accepted (${request.status})`);
    }
    assert.ok(isUuidV4(v4), v4);
  });

  it('after the server restarts on the same data: the stored token still works, and so does refreshing it', { timeout: 60_000 }, async () => {
    const before = stored();
    const { dataDir, port, url } = server;
    assert.equal(await server.stop(), 0, 'clean shutdown');
    server = await startServerProcess({ dataDir, port, env: { PATH: sandbox.originalPath } });
    assert.equal(server.url, url, 'same URL, so Gemini\'s stored server URL still matches');

    step();
    const { v4, v7 } = await connectAndUseTools(before.token.accessToken).catch(explain);
    assert.ok(isUuidV4(v4), v4);
    assert.ok(isUuidV7(v7), v7);
    assert.equal(tokenRequests(since()).length, 0, 'the stored access token was accepted as is');
    assert.ok(!since().some((request) => request.url.pathname === '/register'), 'no new registration');
    assert.deepEqual(stored(), before, 'token file untouched');

    // The refresh token survives the restart too.
    writeTokenFile(tokenFile, [{ ...before, token: { ...before.token, expiresAt: Date.now() + MINUTE } }]);
    step();
    const refreshed = await connectAndUseTools().catch(explain);
    assert.ok(isUuidV4(refreshed.v4), refreshed.v4);
    assert.equal(tokenRequests(since()).length, 1, 'one refresh after the restart');
    assert.equal(tokenRequests(since())[0]!.get('refresh_token'), before.token.refreshToken);
    assert.equal(since().find((request) => request.url.pathname === '/token')?.status, 200, 'the refresh token issued before the restart was accepted');
    assert.notEqual(stored().token.accessToken, before.token.accessToken);
  });
});
