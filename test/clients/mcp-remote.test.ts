import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type PersonAtBrowser, signInAtLaunch } from '../support/person-at-browser.js';
import {
  assertAuthorizationRequest,
  assertAuthorizationResponse,
  assertMcpAcceptedOnceAuthorized,
  assertOnly401Challenges,
  assertTokenFor,
} from '../support/client-sign-in-checks.js';
import { compatibilitySuite } from '../support/compatibility.js';
import { freePort } from '../support/free-port.js';
import { McpRemoteSandbox, type McpRemoteRun } from '../support/mcp-remote.js';
import { ADMIN, restartServer, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { serverLog, type ServerLog } from '../support/server-log.js';
import { installedVersion } from '../support/third-party.js';
import { within } from '../support/time-limit.js';
import { isUuidV4, isUuidV7 } from '../support/uuids.js';

/**
 * mcp-remote, the stdio bridge Claude Desktop (and Cursor, Windsurf…) runs for a remote server:
 * `{"command": "npx", "args": ["mcp-remote", "<url>", "[port]"]}`. Its own binary is spawned the
 * way such an app spawns it, under the SDK's stdio client, with a temporary HOME (its files go to
 * ~/.mcp-auth there). Its browser launch (the `open` package, which on
 * Linux runs its bundled xdg-open, which runs $BROWSER) records the URL; the test then signs in and
 * allows through the real forms and delivers the redirect to mcp-remote's own callback server.
 * What it sent is read from the server's access log and from the files it stored.
 */

const SUCCESS_PAGE = /Authorization successful!/;
const MINUTE = 60_000;

describe(compatibilitySuite({ client: 'mcp-remote', version: installedVersion('mcp-remote'), transport: 'Streamable HTTP', registration: 'dynamic registration' }), () => {
  let server: ServerProcess;
  let sandbox: McpRemoteSandbox;
  const blockers: http.Server[] = [];

  before(async () => {
    sandbox = new McpRemoteSandbox();
    server = await startServerProcess();
  }, { timeout: 30_000 });

  after(async () => {
    await sandbox?.dispose();
    await Promise.all(blockers.map((blocker) => new Promise((resolve) => blocker.close(resolve))));
    await server?.stop();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  /** Fails with mcp-remote's log and the server's access log attached: they say which step gave up. */
  function explain(run: McpRemoteRun, log: ServerLog) {
    return (error: unknown): never => {
      const message = error instanceof Error ? error.message : String(error);
      throw Object.assign(error instanceof Error ? error : new Error(message), {
        message: `${message}\n--- mcp-remote stderr (last lines) ---\n${run.stderr().split('\n').slice(-30).join('\n')}\n--- server access log ---\n${log.summary()}`,
      });
    };
  }

  /** What a desktop app does once mcp-remote is up: initialize (in connect), tools/list, two tools/call. */
  async function useTools(run: McpRemoteRun): Promise<{ names: string[]; v4: string; v7: string }> {
    await within(run.connected, 45_000, 'initialize through mcp-remote');
    const { tools } = await within(run.client.listTools(), 15_000, 'tools/list');
    const text = async (args: Record<string, unknown>) => {
      const result = await within(run.client.callTool({ name: 'generate_uuid', arguments: args }), 15_000, 'tools/call generate_uuid');
      assert.notEqual(result.isError, true, JSON.stringify(result));
      const [first] = result.content as { type: string; text: string }[];
      return first!.text;
    };
    return { names: tools.map((tool) => tool.name).sort(), v4: await text({}), v7: await text({ version: 'v7' }) };
  }

  /** One launch of mcp-remote that needs a sign-in: the person answers the browser it opens, then the tools are used. */
  async function runWithSignIn(args: string[] = []): Promise<{ run: McpRemoteRun; log: ServerLog; person: PersonAtBrowser; tools: Awaited<ReturnType<typeof useTools>> }> {
    const log = await serverLog(server);
    const seen = sandbox.browser.launches().length;
    const run = sandbox.start(server.mcpUrl, args);
    try {
      const person = await signInAtLaunch(sandbox.browser, seen, server.url, ADMIN, { abort: run.connected }).catch(explain(run, log));
      const tools = await useTools(run).catch(explain(run, log));
      await log.settle();
      assert.equal(sandbox.browser.launches().length, seen + 1, 'one browser launch');
      return { run, log, person, tools };
    } finally {
      await run.close();
    }
  }

  /** One launch that must not need the person: the stored tokens (refreshed or not) are enough. */
  async function runWithoutSignIn(args: string[] = []): Promise<{ run: McpRemoteRun; log: ServerLog; tools: Awaited<ReturnType<typeof useTools>> }> {
    const log = await serverLog(server);
    const seen = sandbox.browser.launches().length;
    const run = sandbox.start(server.mcpUrl, args);
    try {
      const tools = await useTools(run).catch(explain(run, log));
      await log.settle();
      assert.equal(sandbox.browser.launches().length, seen, 'no browser launch');
      assert.deepEqual(log.requests('POST', '/register'), [], 'no registration');
      assert.deepEqual(log.requests('GET', '/auth'), [], 'no authorization request');
      return { run, log, tools };
    } finally {
      await run.close();
    }
  }

  const assertTools = (tools: { names: string[]; v4: string; v7: string }) => {
    assert.deepEqual(tools.names, ['generate_uuid', 'get_user_profile']);
    assert.ok(isUuidV4(tools.v4), `v4 by default: ${tools.v4}`);
    assert.ok(isUuidV7(tools.v7), `v7 on request: ${tools.v7}`);
  };

  it('first launch (no port argument, as in Claude Desktop\'s config): discovery, registration, sign-in and consent through the forms, token, tools; what it stored', { timeout: 90_000 }, async () => {
    const { log, person, tools } = await runWithSignIn();
    assertTools(tools);

    // Discovery: its unauthenticated probe of /mcp is refused with a challenge; then both metadata documents.
    const access = log.access();
    assert.equal(`${access[0]?.method} ${access[0]?.url.pathname} ${access[0]?.status}`, 'GET /mcp 401', `its first request probes the MCP URL:\n${log.summary()}`);
    const indexOf = (method: string, pathname: string) => access.findIndex((entry) => entry.method === method && entry.url.pathname === pathname);
    assert.ok(log.requests('GET', '/.well-known/oauth-protected-resource/mcp').some((entry) => entry.status === 200), 'read the protected resource metadata (path form)');
    assert.ok(log.requests('GET', '/.well-known/oauth-authorization-server').some((entry) => entry.status === 200), 'read the authorization server metadata');

    // Registration, then one code exchange; nothing failed but the challenges.
    const registrations = log.requests('POST', '/register');
    assert.equal(registrations.length, 1, 'registered once');
    assert.equal(registrations[0]!.status, 201);
    const tokens = log.requests('POST', '/token');
    assert.deepEqual(tokens.map((entry) => entry.status), [200], 'one token request, accepted');
    assert.ok(indexOf('GET', '/.well-known/oauth-authorization-server') < indexOf('POST', '/register'), 'metadata before registration');
    assert.ok(indexOf('POST', '/register') < indexOf('POST', '/token'), 'registration before the token request');
    assertOnly401Challenges(log);
    assertMcpAcceptedOnceAuthorized(log);

    // What it stored, where it keeps it: the registration answer and the tokens, nothing else left over.
    assert.equal(sandbox.storeDir, path.join(sandbox.home, '.mcp-auth', 'mcp-remote-v1'));
    assert.deepEqual(sandbox.files(), ['<hash>_client_info.json', '<hash>_tokens.json'], '$HOME/.mcp-auth holds the registration and the tokens (README: "keeps the registration and tokens in ~/.mcp-auth/")');
    const clientInfo = sandbox.clientInfo();
    assert.equal(clientInfo.client_name, 'MCP CLI Proxy');
    assert.equal(clientInfo.token_endpoint_auth_method, 'none', 'a public client');
    assert.deepEqual(clientInfo.grant_types, ['authorization_code', 'refresh_token']);
    assert.equal(clientInfo.application_type, 'native');
    assert.equal(clientInfo.redirect_uris.length, 1);
    assert.match(clientInfo.redirect_uris[0]!, /^http:\/\/localhost:\d+\/oauth\/callback$/, 'its callback on a port derived from the server URL');
    const stored = sandbox.tokens();
    assert.equal(stored.token_type, 'Bearer');
    assert.ok(stored.refresh_token, 'a refresh token');
    assert.ok(stored.expires_at! > Date.now() + 55 * MINUTE, 'expires_at an hour ahead');
    await assertTokenFor(server, clientInfo.client_id, stored.access_token);

    // The authorization request it launched, and the answer its callback server took.
    assertAuthorizationRequest(person.authorizationUrl, server, { clientId: clientInfo.client_id, redirectUri: clientInfo.redirect_uris[0]! });
    assert.ok(person.authorizationUrl.searchParams.get('scope')!.split(' ').includes('offline_access'), 'asks for offline_access, which the metadata offers…');
    assert.equal(person.authorizationUrl.searchParams.get('prompt'), 'consent', '…and so sends prompt=consent');
    assertAuthorizationResponse(person, server, SUCCESS_PAGE);

    // The server's side: the person approved this client, and the MCP sessions belong to it.
    assert.deepEqual(log.events('consent.granted').map((event) => event.fields.client), [clientInfo.client_id]);
    const sessions = log.events('mcp.session_opened');
    assert.ok(sessions.length >= 1 && sessions.every((event) => event.fields.client === clientInfo.client_id), 'MCP sessions opened for this client');
  });

  it('next launch: the stored access token is used as it is (no browser, registration or token request)', { timeout: 60_000 }, async () => {
    const before = sandbox.tokens();
    const { log, tools } = await runWithoutSignIn();
    assertTools(tools);
    assert.deepEqual(log.requests('POST', '/token'), [], 'no token request');
    assertOnly401Challenges(log);
    assertMcpAcceptedOnceAuthorized(log);
    assert.deepEqual(sandbox.tokens(), before, 'tokens file untouched');
  });

  it('refresh ahead of expiry: within 60 s of expires_at it refreshes before connecting and stores the rotated tokens', { timeout: 60_000 }, async () => {
    const before = sandbox.tokens();
    sandbox.writeTokens({ ...before, expires_at: Date.now() + 30_000 });
    const { run, log, tools } = await runWithoutSignIn();
    assertTools(tools);
    assert.deepEqual(log.requests('POST', '/token').map((entry) => entry.status), [200], 'one refresh, accepted');
    assertOnly401Challenges(log);
    assertMcpAcceptedOnceAuthorized(log);
    assert.match(run.stderr(), /Refreshed the access token before it expired/);

    const after = sandbox.tokens();
    assert.notEqual(after.access_token, before.access_token, 'a new access token');
    assert.notEqual(after.refresh_token, before.refresh_token, 'the rotated refresh token');
    assert.ok(after.expires_at! > Date.now() + 55 * MINUTE, 'a new expiry');
    await assertTokenFor(server, sandbox.clientInfo().client_id, after.access_token);
  });

  it('after the server restarts on the same data and port: the stored tokens keep working, and so does refreshing them', { timeout: 90_000 }, async () => {
    const before = sandbox.tokens();
    server = await restartServer(server);

    const { log, tools } = await runWithoutSignIn();
    assertTools(tools);
    assert.deepEqual(log.requests('POST', '/token'), [], 'the stored access token was accepted as it is');
    assertMcpAcceptedOnceAuthorized(log);
    assert.deepEqual(sandbox.tokens(), before);

    sandbox.writeTokens({ ...before, expires_at: Date.now() + 30_000 });
    const refreshed = await runWithoutSignIn();
    assertTools(refreshed.tools);
    assert.deepEqual(refreshed.log.requests('POST', '/token').map((entry) => entry.status), [200], 'the refresh token issued before the restart was accepted');
    assert.notEqual(sandbox.tokens().refresh_token, before.refresh_token);
  });

  it('a new sign-in while its callback port is taken: it moves to the next port and reuses the stored registration there (no new /register)', { timeout: 90_000 }, async () => {
    const registered = sandbox.clientInfo();
    const registeredPort = Number(new URL(registered.redirect_uris[0]!).port);
    // Another program holds the port mcp-remote derived from the URL; the tokens are gone (signed out).
    const blocker = http.createServer((_request, response) => response.writeHead(404).end());
    blockers.push(blocker);
    await new Promise<void>((resolve, reject) => blocker.once('error', reject).listen(registeredPort, '127.0.0.1', resolve));
    sandbox.deleteTokens();

    const { run, log, person, tools } = await runWithSignIn();
    assertTools(tools);
    const moved = Number(/running the sign-in for this server \(callback port (\d+)\)/.exec(run.stderr())?.[1]);
    assert.ok(moved > registeredPort && moved < registeredPort + 8, `it took one of the next ports (${moved}, registered ${registeredPort})`);
    const redirectUri = `http://localhost:${moved}/oauth/callback`;
    assertAuthorizationRequest(person.authorizationUrl, server, { clientId: registered.client_id, redirectUri });
    assertAuthorizationResponse(person, server, SUCCESS_PAGE);
    assert.deepEqual(log.requests('POST', '/register'), [], 'no new registration');
    assert.deepEqual(log.requests('POST', '/token').map((entry) => entry.status), [200], 'the code was exchanged with the redirect on the new port');
    assertOnly401Challenges(log);
    assertMcpAcceptedOnceAuthorized(log);
    // Before opening the browser it checks a reused registration by requesting the authorization URL itself.
    const authorizations = log.requests('GET', '/auth').filter((entry) => entry.url.searchParams.get('client_id') === registered.client_id);
    assert.ok(authorizations.length >= 2 && authorizations.every((entry) => entry.status < 400 && entry.url.searchParams.get('redirect_uri') === redirectUri), `its check and the browser's request were both accepted:\n${log.summary()}`);

    assert.deepEqual(sandbox.clientInfo().client_id, registered.client_id);
    assert.deepEqual(sandbox.clientInfo().redirect_uris, registered.redirect_uris, 'the stored registration is unchanged (still the first port)');
    await assertTokenFor(server, registered.client_id, sandbox.tokens().access_token);
    await new Promise((resolve) => blocker.close(resolve));
  });

  it('an explicit callback port argument other than the registered one: mcp-remote 0.15 drops its stored registration and registers again; the flow works', { timeout: 90_000 }, async () => {
    const previous = sandbox.clientInfo();
    const port = await freePort();
    sandbox.deleteTokens();

    const { run, log, person, tools } = await runWithSignIn([String(port)]);
    assertTools(tools);
    assert.match(run.stderr(), /Deleting it so the client re-registers/, 'its own account of why');
    assert.deepEqual(log.requests('POST', '/register').map((entry) => entry.status), [201], 'registered again');
    const renewed = sandbox.clientInfo();
    assert.notEqual(renewed.client_id, previous.client_id, 'a new client');
    assert.deepEqual(renewed.redirect_uris, [`http://localhost:${port}/oauth/callback`]);
    assertAuthorizationRequest(person.authorizationUrl, server, { clientId: renewed.client_id, redirectUri: renewed.redirect_uris[0]! });
    assertAuthorizationResponse(person, server, SUCCESS_PAGE);
    assertOnly401Challenges(log);
    assertMcpAcceptedOnceAuthorized(log);
    await assertTokenFor(server, renewed.client_id, sandbox.tokens().access_token);
  });
});
