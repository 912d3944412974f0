import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { type PersonAtBrowser, signInAtLaunch } from '../support/person-at-browser.js';
import { recordingUrlOpener, type UrlOpener } from '../support/url-opener.js';
import { compatibilitySuite } from '../support/compatibility.js';
import { startFakeGeminiApi, type FakeModelApi } from '../support/fake-model-apis.js';
import { writeTokenFile } from '../support/gemini-cli.js';
import { GEMINI_CLI_VERSION, geminiCliSandbox, submitSlashCommand, type GeminiCliSandbox } from '../support/gemini-cli-program.js';
import { readmeCommand } from '../support/readme-recipes.js';
import { ADMIN, restartServer, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { describeRequests, serverLog, ServerLog, type AccessLogEntry } from '../support/server-log.js';
import type { TerminalSession } from '../support/terminal-session.js';
import { isUuidV4 } from '../support/uuids.js';

/**
 * The full Gemini CLI (`@google/gemini-cli`, the program people install) through the README's
 * recipes, once per transport: `gemini mcp add --transport http …` (Streamable HTTP at /mcp) and
 * `gemini mcp add --transport sse …` (the legacy HTTP+SSE transport at /sse) as the README prints
 * them, `gemini mcp list` before
 * and after signing in (and in an untrusted folder), `/mcp auth uuid` typed into its interactive UI
 * (in tmux: Gemini offers sign-in nowhere else), with the person played on our real sign-in and
 * consent forms, a real tools/call with `gemini -p`, its refresh ahead of expiry, and a server
 * restart.
 *
 * The tools/call runs against a stand-in for the Gemini API on 127.0.0.1
 * (test/support/fake-model-apis.ts): it replaces only the model's choice to call the tool. Gemini
 * CLI's own MCP client makes the call to the server, with the token Gemini CLI stored.
 * test/clients/gemini-cli.test.ts drives the same OAuth code in-process, through its library.
 */

/** A transport `gemini mcp add --transport <flag>` configures, and what its MCP traffic looks like in the access log. */
interface GeminiTransport {
  flag: 'http' | 'sse';
  /** Its name in the compatibility table. */
  name: string;
  /** The server URL the recipe gives Gemini CLI. */
  url(server: ServerProcess): string;
  /** Checks that `mcp` (the entries on this transport's paths) is a whole session on this transport. */
  assertSession(mcp: AccessLogEntry[], all: AccessLogEntry[]): void;
}

const STREAMABLE_HTTP: GeminiTransport = {
  flag: 'http',
  name: 'Streamable HTTP',
  url: (server) => server.mcpUrl,
  assertSession(mcp, all) {
    assert.ok(mcp.some((entry) => entry.method === 'POST' && entry.url.pathname === '/mcp' && entry.status === 200), `Gemini CLI called /mcp:\n${describeRequests(all)}`);
    assert.ok(!all.some((entry) => entry.url.pathname === '/sse' || entry.url.pathname === '/messages'), `nothing went to the legacy transport:\n${describeRequests(all)}`);
  },
};

const LEGACY_SSE: GeminiTransport = {
  flag: 'sse',
  name: 'HTTP+SSE (2024-11-05)',
  url: (server) => server.sseUrl,
  assertSession(mcp, all) {
    // "type": "sse" opens the stream straight away: no Streamable HTTP attempt (POST /sse) first.
    assert.ok(mcp.some((entry) => entry.method === 'GET' && entry.url.pathname === '/sse' && entry.status === 200), `Gemini CLI opened the event stream:\n${describeRequests(all)}`);
    assert.ok(mcp.some((entry) => entry.method === 'POST' && entry.url.pathname === '/messages'), `Gemini CLI posted its messages:\n${describeRequests(all)}`);
    assert.ok(!all.some((entry) => entry.url.pathname === '/mcp' || (entry.method === 'POST' && entry.url.pathname === '/sse')), `nothing went to Streamable HTTP:\n${describeRequests(all)}`);
  },
};

/** The access log entries of an MCP transport: /mcp, or /sse and /messages. */
const MCP_PATHS = ['/mcp', '/sse', '/messages'];

const NAME = 'uuid';
const TOOL = `mcp_${NAME}_generate_uuid`;
const MINUTE = 60_000;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

function geminiCliRecipe(transport: GeminiTransport): void {
  describe(compatibilitySuite({ client: 'Gemini CLI', version: GEMINI_CLI_VERSION, transport: transport.name, registration: 'dynamic registration' }), () => {
    let server: ServerProcess;
    let browser: UrlOpener;
    let gemini: GeminiCliSandbox;
    let model: FakeModelApi;
    let terminal: TerminalSession | undefined;
    /** The server's log since the current step began. */
    let log: ServerLog;

    before(async () => {
      browser = recordingUrlOpener();
      model = await startFakeGeminiApi(TOOL);
      gemini = geminiCliSandbox(browser.bin, model.url);
      server = await startServerProcess();
    }, { timeout: 60_000 });

    after(async () => {
      terminal?.kill();
      await server?.stop();
      await model?.close();
      if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
      gemini?.remove();
      browser?.remove();
    }, { timeout: 30_000 });

    const url = () => transport.url(server);

    /** `gemini mcp list`: the server's line. */
    const listed = async (env: NodeJS.ProcessEnv = {}): Promise<string> => {
      const result = await gemini.run(['mcp', 'list'], { env });
      assert.equal(result.code, 0, result.text);
      const line = result.text.split('\n').find((candidate) => candidate.includes(`${NAME}: ${url()}`));
      assert.ok(line, `${NAME} in \`gemini mcp list\`:\n${result.text}`);
      return line.trim();
    };

    const stored = () => {
      const all = gemini.storedTokens();
      assert.equal(all.length, 1, `one server in Gemini's token file (${gemini.tokenFile})`);
      return all[0]!;
    };

    /** `gemini --yolo -p` with the stand-in model: the UUID the tool returned through Gemini CLI. */
    const generateUuidThroughGemini = async (): Promise<string> => {
      const before = model.toolResults.length;
      // --yolo: the tool call runs without a confirmation prompt (there is no one to answer it in -p mode).
      const result = await gemini.run(['--yolo', '-p', 'generate a uuid'], { timeoutMs: 150_000 });
      assert.equal(result.code, 0, `gemini -p failed:\n${result.text}`);
      assert.ok(model.requests.some((request) => request.tools.includes(TOOL)), `Gemini offered ${TOOL} to the model:\n${model.requests.map((request) => request.tools.join(',')).join('\n')}`);
      assert.equal(model.toolResults.length, before + 1, `Gemini sent the tool's result back to the model:\n${result.text}`);
      const uuid = UUID.exec(model.toolResults.at(-1)!)?.[0];
      assert.ok(uuid && isUuidV4(uuid), `a v4 UUID in the tool result: ${model.toolResults.at(-1)}`);
      assert.ok(result.stdout.includes(uuid), `Gemini printed the answer built from the tool result:\n${result.text}`);
      return uuid;
    };

    /** Gemini CLI's MCP requests in `entries` make a session on the transport, and were all accepted. */
    const assertMcpAccepted = (entries: AccessLogEntry[]) => {
      const mcp = entries.filter((entry) => MCP_PATHS.includes(entry.url.pathname));
      transport.assertSession(mcp, entries);
      for (const entry of mcp) assert.ok([200, 202].includes(entry.status), `accepted: ${entry.line}`);
    };

    it(`the README's \`gemini mcp add --transport ${transport.flag} uuid <URL>\` writes the server into the folder's .gemini/settings.json`, { timeout: 120_000 }, async () => {
      const command = readmeCommand(`gemini mcp add --transport ${transport.flag}`, server);
      assert.deepEqual(command, ['gemini', 'mcp', 'add', '--transport', transport.flag, NAME, url()]);
      const result = await gemini.run(command.slice(1));
      assert.equal(result.code, 0, result.text);
      assert.match(result.text, new RegExp(`MCP server "${NAME}" added to project settings\\. \\(${transport.flag}\\)`));
      assert.deepEqual(gemini.projectSettings().mcpServers?.[NAME], { url: url(), type: transport.flag }, 'what `mcp add` wrote');
    });

    it('before signing in: `gemini mcp list` says Disabled in an untrusted folder, Disconnected in a trusted one, after the server\'s 401', { timeout: 120_000 }, async () => {
      log = await serverLog(server);
      assert.equal(await listed({ GEMINI_CLI_TRUST_WORKSPACE: undefined }), `○ ${NAME}: ${url()} (${transport.flag}) - Disabled`);
      await log.settle();
      assert.deepEqual(log.access(), [], 'in an untrusted folder Gemini does not contact the server');
      assert.equal(await listed(), `✗ ${NAME}: ${url()} (${transport.flag}) - Disconnected`);
      await log.settle();
      const seen = log.access();
      const endpoint = new URL(url()).pathname;
      assert.ok(seen.some((entry) => entry.url.pathname === endpoint && entry.status === 401), `${endpoint} refused the tokenless request:\n${describeRequests(seen)}`);
      assert.ok(!seen.some((entry) => entry.url.pathname === '/register'), 'a status check registers nothing');
      assert.deepEqual(browser.launches(), [], 'and opens no browser');
    });

    it('`/mcp auth uuid` in Gemini CLI: Yes to its prompt, registration, our sign-in and consent pages, the callback, the token exchange, the token file', { timeout: 240_000 }, async () => {
      log = await serverLog(server);
      const tui = gemini.startInteractive();
      terminal = tui;
      let person: PersonAtBrowser;
      try {
        await tui.waitFor(/Type your message/, 90_000, 'Gemini CLI ready for input');
        const asked = await submitSlashCommand(tui, `/mcp auth ${NAME}`, (screen) => /Do you want to continue\?/.test(screen), 30_000, 'Gemini asking before it opens the browser');
        assert.match(asked, new RegExp(`Authentication required for MCP Server: '${NAME}\\.'`));
        assert.match(asked, /● 1\. Yes/, '"Yes" is selected');
        tui.press('Enter');
        person = await signInAtLaunch(browser, 0, server.url, ADMIN, { describe: () => tui.screen(), timeoutMs: 60_000 });
        assert.equal(person.delivered.status, 200, `Gemini's callback accepted the redirect: ${person.delivered.text}`);
        assert.match(person.delivered.text, /Authentication Successful/);
        await tui.waitFor(new RegExp(`Successfully authenticated and reloaded tools for '${NAME}'`), 60_000, 'Gemini reporting the sign-in');
        await submitSlashCommand(tui, '/quit', () => false, 30_000, 'Gemini CLI quitting');
      } finally {
        // Also when a step failed: a Gemini left running would keep its MCP session into the next steps.
        tui.kill();
        terminal = undefined;
      }

      // The authorization request Gemini opened, and the server saw.
      const authUrl = person.authorizationUrl;
      assert.equal(`${authUrl.origin}${authUrl.pathname}`, `${server.url}/auth`);
      const params = Object.fromEntries(authUrl.searchParams);
      assert.equal(params.response_type, 'code');
      assert.equal(params.code_challenge_method, 'S256');
      assert.match(params.redirect_uri ?? '', /^http:\/\/localhost:\d+\/oauth\/callback$/);
      assert.equal(params.scope, 'openid offline_access uuid:generate profile:read', 'every scope the server advertises');
      assert.equal(params.resource, url(), 'RFC 8707 resource: the URL Gemini CLI was given');
      assert.ok(params.state);
      await log.including('/token');
      const seen = (await log.settle()).access();
      const registrations = seen.filter((entry) => entry.url.pathname === '/register');
      assert.deepEqual(registrations.map((entry) => `${entry.method} ${entry.status}`), ['POST 201'], `Gemini registered once:\n${describeRequests(seen)}`);
      const authorizations = seen.filter((entry) => entry.url.pathname === '/auth');
      assert.equal(authorizations.length, 1, describeRequests(seen));
      assert.equal(authorizations[0]!.url.searchParams.get('client_id'), params.client_id);
      assert.equal(authorizations[0]!.url.searchParams.get('state'), 'REDACTED', 'the access log hides the state');
      const exchanges = seen.filter((entry) => entry.url.pathname === '/token');
      assert.deepEqual(exchanges.map((entry) => `${entry.method} ${entry.status}`), ['POST 200'], 'one token exchange');
      assert.ok(seen.indexOf(registrations[0]!) < seen.indexOf(authorizations[0]!) && seen.indexOf(authorizations[0]!) < seen.indexOf(exchanges[0]!));

      // What Gemini asked to be registered as, as the server registered it (the body itself is not logged).
      const store = createSqliteStore(server.dataDir);
      try {
        const client = (await store.models.find('Client', params.client_id!))?.payload;
        assert.ok(client, `the server registered ${params.client_id}`);
        assert.equal(client.client_name, 'Gemini CLI MCP Client');
        assert.deepEqual(client.redirect_uris, [params.redirect_uri]);
        assert.equal(client.token_endpoint_auth_method, 'none');
        assert.deepEqual([...(client.grant_types as string[])].sort(), ['authorization_code', 'refresh_token']);
        assert.equal(client.application_type, 'native', 'a loopback redirect makes it a native app');
      } finally {
        await store.close();
      }

      // The redirect back carried the issuer (RFC 9207), which Gemini accepted.
      assert.equal(`${person.callback.origin}${person.callback.pathname}`, params.redirect_uri);
      assert.equal(person.callback.searchParams.get('state'), params.state);
      assert.equal(person.callback.searchParams.get('iss'), server.url);
      assert.ok(log.events('login.succeeded').some((event) => event.fields.user === 'admin' && event.fields.client === params.client_id), log.lines().join('\n'));

      // What Gemini keeps: ~/.gemini/mcp-oauth-tokens.json.
      const credentials = stored();
      assert.equal(credentials.serverName, NAME);
      assert.equal(credentials.clientId, params.client_id);
      assert.equal(credentials.tokenUrl, `${server.url}/token`);
      assert.equal(credentials.mcpServerUrl, url());
      assert.ok(credentials.token.accessToken, 'access token stored');
      assert.ok(credentials.token.refreshToken, 'refresh token stored');
      assert.ok(credentials.token.expiresAt! > Date.now() + 50 * MINUTE, 'expiresAt from expires_in (1 h)');
      assert.equal(browser.launches().length, 1, 'one browser launch');
    });

    it('after signing in: `gemini mcp list` says Connected, with the stored token', { timeout: 120_000 }, async () => {
      log = await serverLog(server);
      assert.equal(await listed(), `✓ ${NAME}: ${url()} (${transport.flag}) - Connected`);
      assertMcpAccepted((await log.settle()).access());
    });

    it('a real tools/call: the model (a local stand-in) asks for generate_uuid, Gemini CLI\'s MCP client calls the server and returns a v4 UUID', { timeout: 180_000 }, async () => {
      log = await serverLog(server);
      await generateUuidThroughGemini();
      const seen = (await log.settle()).access();
      assertMcpAccepted(seen);
      assert.ok(!seen.some((entry) => entry.url.pathname === '/token'), 'a fresh token needs no refresh');
      assert.ok(log.events('mcp.session_opened').some((event) => event.fields.client === stored().clientId), log.lines().join('\n'));
    });

    it('refresh: with the stored token within five minutes of expiry, Gemini CLI refreshes it at /token (rotated), and stays connected', { timeout: 120_000 }, async () => {
      const before = stored();
      // Gemini counts a token as expired five minutes early (MCPOAuthTokenStorage.isTokenExpired) and then refreshes it.
      writeTokenFile(gemini.tokenFile, [{ ...before, token: { ...before.token, expiresAt: Date.now() + MINUTE } }]);
      log = await serverLog(server);
      assert.equal(await listed(), `✓ ${NAME}: ${url()} (${transport.flag}) - Connected`);
      await log.including('/token');
      const seen = (await log.settle()).access();
      const refreshes = seen.filter((entry) => entry.url.pathname === '/token');
      assert.deepEqual(refreshes.map((entry) => `${entry.method} ${entry.status}`), ['POST 200'], `one refresh:\n${describeRequests(seen)}`);
      assert.ok(!seen.some((entry) => entry.url.pathname === '/auth' || entry.url.pathname === '/register'), 'no new sign-in or registration');
      const after = stored();
      assert.notEqual(after.token.accessToken, before.token.accessToken, 'a new access token');
      assert.notEqual(after.token.refreshToken, before.token.refreshToken, 'the refresh token rotated');
      assert.equal(after.clientId, before.clientId);
      assert.ok(after.token.expiresAt! > Date.now() + 50 * MINUTE);
      assertMcpAccepted(seen.slice(seen.indexOf(refreshes[0]!)));
      assert.equal(browser.launches().length, 1, 'no browser');
    });

    it('after the server restarts on the same data and port: the stored sign-in still works (Connected and a tools/call), no new sign-in', { timeout: 240_000 }, async () => {
      const before = stored();
      server = await restartServer(server);
      log = new ServerLog(server);
      assert.equal(await listed(), `✓ ${NAME}: ${url()} (${transport.flag}) - Connected`);
      await generateUuidThroughGemini();
      const seen = (await log.settle()).access();
      assertMcpAccepted(seen);
      assert.ok(!seen.some((entry) => ['/register', '/auth', '/token'].includes(entry.url.pathname)), `no registration, sign-in or refresh:\n${describeRequests(seen)}`);
      assert.deepEqual(stored(), before, 'the token file is unchanged');
      assert.equal(browser.launches().length, 1, 'no browser');
    });
  });
}

geminiCliRecipe(STREAMABLE_HTTP);
geminiCliRecipe(LEGACY_SSE);
