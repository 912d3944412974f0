import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { browserShim, signInAtLaunch, type BrowserShim } from '../support/browser-shim.js';
import type { CliRun } from '../support/cli-process.js';
import { CLAUDE_CODE_VERSION, claudeSandbox, type ClaudeMcpCredentials, type ClaudeSandbox } from '../support/claude-code.js';
import { compatibilitySuite } from '../support/compatibility.js';
import { eventually } from '../support/time-limit.js';
import { startFakeAnthropicApi, type FakeModelApi } from '../support/fake-model-apis.js';
import { assertTokenAccepted, assertTokenRefused } from '../support/flows.js';
import { request } from '../support/raw-oauth.js';
import { readmeCommand } from '../support/readme-recipes.js';
import { restartServer } from '../support/restart-server.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { describeRequests, serverLog, ServerLog, type AccessLogEntry } from '../support/server-log.js';
import { isUuidV4 } from '../support/uuids.js';

/**
 * Claude Code (`@anthropic-ai/claude-code`, its own native binary) through the README's recipe:
 * `claude mcp add --transport http …` as the README prints it, `claude mcp list` before and after
 * signing in, `claude mcp login` (its discovery, registration, PKCE, browser launch, callback
 * server, token exchange and credentials file) with the person played on our real sign-in and
 * consent forms, a real tools/call, its own refresh ahead of expiry, a server restart, and
 * `claude mcp logout` revoking the tokens.
 *
 * The tools/call runs `claude -p` against a stand-in for Anthropic's Messages API on 127.0.0.1
 * (test/support/fake-model-apis.ts): it replaces only the model's choice to call the tool. Claude
 * Code's own MCP client makes the call to the server, with the token Claude Code stored.
 *
 * What Claude Code sent at /register and /auth is read from the server's side: the access log
 * (secrets redacted) and the client the server registered from Claude Code's request.
 */

const NAME = 'uuid';
const TOOL = `mcp__${NAME}__generate_uuid`;
const MINUTE = 60_000;

/**
 * How Claude Code registers, and what that needs around it. Only dynamic registration for now: the
 * server has no Client ID Metadata Documents yet. A CIMD variant reuses the whole suite with its
 * own `prepare` (a local https document, the server's test-only setting to fetch it, Claude Code's
 * MCP_OAUTH_CLIENT_METADATA_URL) and `check` (no /register; the document's URL as client id).
 */
interface Registration {
  name: string;
  prepare(): Promise<{ serverEnv: Record<string, string>; claudeEnv: Record<string, string>; close(): Promise<void> }>;
  /** Checks the registration (or its absence) and returns the client id Claude Code uses. */
  check(context: { server: ServerProcess; log: AccessLogEntry[]; authUrl: URL }): Promise<string>;
}

const dynamicRegistration: Registration = {
  name: 'dynamic registration',
  // A server that offers metadata documents (CLIENT_ID_METADATA_DOCUMENTS, from the CIMD work; ignored
  // by a server without them) would get Claude Code's claude.ai document URL instead of a registration.
  prepare: async () => ({ serverEnv: { CLIENT_ID_METADATA_DOCUMENTS: 'false' }, claudeEnv: {}, close: async () => {} }),
  async check({ server, log, authUrl }) {
    const registrations = log.filter((entry) => entry.url.pathname === '/register');
    assert.equal(registrations.length, 1, `Claude Code registered once:\n${describeRequests(log)}`);
    assert.equal(registrations[0]!.method, 'POST');
    assert.equal(registrations[0]!.status, 201);
    const clientId = authUrl.searchParams.get('client_id')!;
    // What Claude Code asked for, as the server registered it (the body itself is not logged).
    const store = createSqliteStore(server.dataDir);
    try {
      const client = (await store.models.find('Client', clientId))?.payload;
      assert.ok(client, `the server registered ${clientId}`);
      assert.equal(client.client_name, `Claude Code (${NAME})`);
      assert.deepEqual(client.redirect_uris, [authUrl.searchParams.get('redirect_uri')]);
      assert.equal(client.application_type, 'native');
      assert.equal(client.token_endpoint_auth_method, 'none');
      assert.deepEqual([...(client.grant_types as string[])].sort(), ['authorization_code', 'refresh_token']);
      assert.deepEqual(client.response_types, ['code']);
      // Claude Code asks for the advertised scopes it wants ("uuid:generate profile:read offline_access", as
      // in its /auth request); the server registers them with openid, which it adds to every registration.
      assert.deepEqual((client.scope as string).split(' ').sort(), ['offline_access', 'openid', 'profile:read', 'uuid:generate']);
    } finally {
      await store.close();
    }
    return clientId;
  },
};

function claudeCodeRecipe(registration: Registration): void {
  describe(compatibilitySuite({ client: 'Claude Code', version: CLAUDE_CODE_VERSION, transport: 'Streamable HTTP', registration: registration.name }), () => {
    let server: ServerProcess;
    let browser: BrowserShim;
    let claude: ClaudeSandbox;
    let model: FakeModelApi;
    let clientId: string;
    let prepared: Awaited<ReturnType<Registration['prepare']>> | undefined;
    let login: CliRun | undefined;
    /** The server's log since the current step began. */
  let log: ServerLog;

    before(async () => {
      browser = browserShim();
      claude = claudeSandbox(browser.bin, browser.command);
      prepared = await registration.prepare();
      [server, model] = await Promise.all([startServerProcess({ env: prepared.serverEnv }), startFakeAnthropicApi(TOOL)]);
    }, { timeout: 60_000 });

    after(async () => {
      login?.stop();
      await server?.stop();
      await model?.close();
      await prepared?.close();
      if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
      claude?.remove();
      browser?.remove();
    }, { timeout: 30_000 });

    const run = (args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) =>
      claude.run(args, { ...options, env: { ...prepared!.claudeEnv, ...options.env } });

    /** `claude mcp get uuid`, which health-checks the server: its Status line. */
    const status = async (): Promise<string> => {
      const result = await run(['mcp', 'get', NAME]);
      assert.equal(result.code, 0, result.text);
      const line = /^\s*Status: (.*)$/m.exec(result.text);
      assert.ok(line, `a Status line in:\n${result.text}`);
      return line[1]!.trim();
    };

    /** The one stored sign-in for the server, from Claude Code's credentials file. */
    const stored = (): ClaudeMcpCredentials => {
      const entries = Object.entries(claude.mcpCredentials()).filter(([key]) => key.startsWith(`${NAME}|`));
      assert.equal(entries.length, 1, `one stored sign-in for ${NAME}: ${entries.map(([key]) => key).join(', ')}`);
      return entries[0]![1];
    };

    /** `claude -p` with the stand-in model: the UUID the tool returned through Claude Code. */
    const generateUuidThroughClaude = async (): Promise<string> => {
      const before = model.toolResults.length;
      const result = await run(['-p', 'generate a uuid', '--allowedTools', TOOL], {
        // ENABLE_TOOL_SEARCH=false: MCP tools are offered to the model directly, not behind a search tool.
        env: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'test-key-for-the-local-stand-in', ENABLE_TOOL_SEARCH: 'false' },
        timeoutMs: 120_000,
      });
      assert.equal(result.code, 0, `claude -p failed:\n${result.text}`);
      assert.ok(model.requests.at(-1)?.tools.includes(TOOL), `Claude Code offered ${TOOL} to the model: ${model.requests.at(-1)?.tools.join(', ')}`);
      assert.equal(model.toolResults.length, before + 1, `Claude Code sent the tool's result back to the model:\n${result.text}`);
      const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(model.toolResults.at(-1)!)?.[0];
      assert.ok(uuid && isUuidV4(uuid), `a v4 UUID in the tool result: ${model.toolResults.at(-1)}`);
      assert.ok(result.stdout.includes(uuid), `Claude Code printed the answer built from the tool result:\n${result.text}`);
      return uuid;
    };

    /**
     * The MCP requests Claude Code made since the step began were accepted. Each connection starts
     * with a `server/discover` probe (a draft protocol version, sent without a session); the server
     * answers it 400 "No valid session ID provided", and Claude Code falls back to `initialize`.
     */
    const assertMcpAccepted = (entries: AccessLogEntry[]) => {
      // Claude Code's MCP client names itself; the test's own checks of a token (user agent "node") are not its.
      const mcp = entries.filter((entry) => entry.url.pathname === '/mcp' && entry.method === 'POST' && entry.userAgent.startsWith('claude-code/'));
      mcp.forEach((entry, index) => {
        if (entry.status === 200 || entry.status === 202) return;
        assert.equal(entry.status, 400, `only the session-less probe may be refused: ${entry.line}`);
        assert.equal(mcp[index + 1]?.status, 200, `an accepted initialize follows the refused probe:\n${describeRequests(mcp)}`);
      });
      assert.ok(mcp.some((entry) => entry.status === 200), `Claude Code used /mcp:\n${describeRequests(entries)}`);
    };

    it('the README\'s `claude mcp add --transport http uuid <URL>` records the server for this folder', { timeout: 60_000 }, async () => {
      const command = readmeCommand('claude mcp add', server.mcpUrl);
      assert.deepEqual(command, ['claude', 'mcp', 'add', '--transport', 'http', NAME, server.mcpUrl]);
      const result = await run(command.slice(1));
      assert.equal(result.code, 0, result.text);
      assert.match(result.text, new RegExp(`Added HTTP MCP server ${NAME} with URL: ${server.mcpUrl} to local config`));
      const project = claude.config().projects?.[fs.realpathSync(claude.project)];
      assert.deepEqual(project?.mcpServers?.[NAME], { type: 'http', url: server.mcpUrl }, 'what `mcp add` wrote to ~/.claude.json');
    });

    it('before signing in: `claude mcp list` and `claude mcp get` say "Needs authentication", after discovering the server from its 401', { timeout: 60_000 }, async () => {
      log = await serverLog(server);
      const list = await run(['mcp', 'list']);
      assert.equal(list.code, 0, list.text);
      assert.ok(list.text.includes(`${NAME}: ${server.mcpUrl} (HTTP) - ! Needs authentication`), list.text);
      assert.equal(await status(), '! Needs authentication');
      const seen = log.access();
      assert.ok(seen.some((entry) => entry.method === 'POST' && entry.url.pathname === '/mcp' && entry.status === 401), `/mcp refused the tokenless request:\n${describeRequests(seen)}`);
      assert.ok(seen.some((entry) => entry.url.pathname === '/.well-known/oauth-protected-resource/mcp' && entry.status === 200), describeRequests(seen));
      assert.ok(seen.some((entry) => entry.url.pathname === '/.well-known/oauth-authorization-server' && entry.status === 200), describeRequests(seen));
      assert.ok(!seen.some((entry) => entry.url.pathname === '/register'), 'a status check registers nothing');
      assert.deepEqual(browser.launches(), [], 'and opens no browser');
    });

    it('`claude mcp login uuid`: registration, the browser on our sign-in and consent pages, the callback, the token exchange, the credentials file', { timeout: 150_000 }, async () => {
      log = await serverLog(server);
      const command = readmeCommand('claude mcp login', server.mcpUrl);
      assert.deepEqual(command, ['claude', 'mcp', 'login', NAME]);
      login = claude.startInTerminal(command.slice(1), { env: prepared!.claudeEnv, timeoutMs: 120_000 });
      // The person: sign in and allow on the server's own pages; the browser then follows the redirect to Claude Code.
      const person = await signInAtLaunch(browser, 0, server.url, ADMIN, { abort: login.result, describe: login.output, timeoutMs: 60_000 });
      const authUrl = person.authorizationUrl;
      assert.equal(person.delivered.status, 200, `Claude Code's callback accepted the redirect: ${person.delivered.text}`);
      const result = await login.result;
      assert.equal(result.code, 0, result.text);
      assert.match(result.text, new RegExp(`Authenticated with "${NAME}"`));

      // The authorization request Claude Code opened, and the server saw (state redacted in its log).
      assert.equal(`${authUrl.origin}${authUrl.pathname}`, `${server.url}/auth`);
      const params = Object.fromEntries(authUrl.searchParams);
      assert.equal(params.response_type, 'code');
      assert.equal(params.code_challenge_method, 'S256');
      assert.match(params.code_challenge ?? '', /^[\w-]{43}$/);
      assert.match(params.redirect_uri ?? '', /^http:\/\/localhost:\d+\/callback$/);
      assert.equal(params.scope, 'uuid:generate profile:read offline_access');
      assert.equal(params.prompt, 'consent');
      assert.equal(params.resource, server.mcpUrl, 'RFC 8707 resource: the MCP URL');
      assert.ok(params.state, 'state');
      const seen = await log.including('/token');
      const authorizations = seen.filter((entry) => entry.url.pathname === '/auth');
      assert.equal(authorizations.length, 1, describeRequests(seen));
      assert.equal(authorizations[0]!.url.searchParams.get('state'), 'REDACTED', 'the access log hides the state');
      assert.equal(authorizations[0]!.url.searchParams.get('client_id'), params.client_id);

      clientId = await registration.check({ server, log: seen, authUrl });
      assert.equal(params.client_id, clientId);

      // The redirect back: code, state and the issuer (RFC 9207), which Claude Code accepted.
      assert.equal(`${person.callback.origin}${person.callback.pathname}`, params.redirect_uri);
      assert.equal(person.callback.searchParams.get('state'), params.state);
      assert.equal(person.callback.searchParams.get('iss'), server.url);
      const exchanges = seen.filter((entry) => entry.url.pathname === '/token');
      assert.deepEqual(exchanges.map((entry) => `${entry.method} ${entry.status}`), ['POST 200'], 'one token exchange');
      assert.ok(seen.indexOf(authorizations[0]!) < seen.indexOf(exchanges[0]!));
      assert.match(server.output(), new RegExp(`login\\.succeeded user=admin .*client=${clientId}`));
      assert.match(server.output(), new RegExp(`consent\\.granted .*client=${clientId}`));

      // What Claude Code keeps: ~/.claude/.credentials.json, mcpOAuth["uuid|<hash>"].
      const credentials = stored();
      assert.equal(credentials.serverName, NAME);
      assert.equal(credentials.serverUrl, server.mcpUrl);
      assert.equal(credentials.clientId, clientId);
      assert.equal(credentials.issuer, server.url);
      assert.equal(credentials.redirectUri, params.redirect_uri);
      assert.ok(credentials.accessToken, 'access token stored');
      assert.ok(credentials.refreshToken, 'refresh token stored');
      assert.ok(credentials.expiresAt! > Date.now() + 50 * MINUTE, `expiresAt from expires_in (1 h): ${credentials.expiresAt}`);
      await assertTokenAccepted(server, credentials.accessToken, 'the stored access token');
      assert.equal(browser.launches().length, 1, 'one browser launch');
    });

    it('after signing in: `claude mcp list` and `claude mcp get` say "✔ Connected", with the stored token', { timeout: 60_000 }, async () => {
      log = await serverLog(server);
      const list = await run(['mcp', 'list']);
      assert.ok(list.text.includes(`${NAME}: ${server.mcpUrl} (HTTP) - ✔ Connected`), list.text);
      assert.equal(await status(), '✔ Connected');
      assertMcpAccepted(log.access());
    });

    it('a real tools/call: the model (a local stand-in) asks for generate_uuid, Claude Code\'s MCP client calls the server and returns a v4 UUID', { timeout: 150_000 }, async () => {
      log = await serverLog(server);
      await generateUuidThroughClaude();
      const seen = log.access();
      assertMcpAccepted(seen);
      assert.ok(!seen.some((entry) => entry.url.pathname === '/token'), 'a fresh token needs no refresh');
      assert.match(server.output(), new RegExp(`mcp\\.session_opened .*client=${clientId}`));
    });

    it('refresh: with the stored token within five minutes of expiry, Claude Code refreshes it at /token (rotated), and stays connected', { timeout: 60_000 }, async () => {
      const before = stored();
      const [key] = Object.keys(claude.mcpCredentials()).filter((candidate) => candidate.startsWith(`${NAME}|`));
      // Claude Code refreshes a stored token that expires within 300 s (its provider's tokens()).
      claude.writeMcpCredentials({ ...claude.mcpCredentials(), [key!]: { ...before, expiresAt: Date.now() + MINUTE } });
      log = await serverLog(server);
      assert.equal(await status(), '✔ Connected');
      const seen = await log.including('/token');
      const refreshes = seen.filter((entry) => entry.url.pathname === '/token');
      assert.deepEqual(refreshes.map((entry) => `${entry.method} ${entry.status}`), ['POST 200'], `one refresh:\n${describeRequests(seen)}`);
      assert.ok(!seen.some((entry) => entry.url.pathname === '/auth' || entry.url.pathname === '/register'), 'no new sign-in or registration');
      const after = stored();
      assert.notEqual(after.accessToken, before.accessToken, 'a new access token');
      assert.notEqual(after.refreshToken, before.refreshToken, 'the refresh token rotated');
      assert.equal(after.clientId, before.clientId);
      assert.ok(after.expiresAt! > Date.now() + 50 * MINUTE);
      const mcpAfterRefresh = seen.slice(seen.indexOf(refreshes[0]!)).filter((entry) => entry.url.pathname === '/mcp');
      assert.ok(mcpAfterRefresh.some((entry) => entry.status === 200), `the new token was used at /mcp:\n${describeRequests(seen)}`);
      await assertTokenAccepted(server, after.accessToken, 'the refreshed access token');
      assert.equal(browser.launches().length, 1, 'no browser');
    });

    it('after the server restarts on the same data and port: the stored sign-in still works (Connected and a tools/call), no new sign-in', { timeout: 180_000 }, async () => {
      const before = stored();
      server = await restartServer(server, { env: prepared!.serverEnv });
      log = new ServerLog(server);
      assert.equal(await status(), '✔ Connected');
      await generateUuidThroughClaude();
      const seen = log.access();
      assertMcpAccepted(seen);
      assert.ok(!seen.some((entry) => ['/register', '/auth', '/token'].includes(entry.url.pathname)), `no registration, sign-in or refresh:\n${describeRequests(seen)}`);
      assert.deepEqual(stored(), before, 'the credentials file is unchanged');
      assert.equal(browser.launches().length, 1, 'no browser');
    });

    it('`claude mcp logout uuid` revokes both tokens at the server: the access token is then refused at /mcp, the refresh token at /token', { timeout: 60_000 }, async () => {
      const before = stored();
      log = await serverLog(server);
      const result = await run(['mcp', 'logout', NAME]);
      assert.equal(result.code, 0, result.text);
      assert.match(result.text, new RegExp(`Signed out of "${NAME}"`));
      const seen = await eventually(() => {
        const entries = log.access().filter((entry) => entry.url.pathname === '/revoke');
        assert.equal(entries.length, 2, `two revocations in the access log:\n${describeRequests(log.access())}`);
        return entries;
      });
      assert.deepEqual(seen.map((entry) => `${entry.method} ${entry.status}`), ['POST 200', 'POST 200']);
      assert.match(server.output(), new RegExp(`oauth\\.grant_revoked .*client=${clientId} route=revocation`));
      assert.ok(!Object.keys(claude.mcpCredentials()).some((key) => key.startsWith(`${NAME}|`) && claude.mcpCredentials()[key]!.accessToken), 'the tokens are gone from the credentials file');

      await assertTokenRefused(server, before.accessToken, 0, 'the revoked access token');
      const refresh = await request(`${server.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: before.refreshToken!, client_id: clientId, resource: server.mcpUrl }),
      });
      assert.equal(refresh.status, 400, refresh.text);
      assert.equal(refresh.json?.error, 'invalid_grant');
      assert.equal(await status(), '! Needs authentication');
    });
  });
}

claudeCodeRecipe(dynamicRegistration);
