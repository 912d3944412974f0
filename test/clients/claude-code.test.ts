import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { assertIdentifiedByDocument } from '../support/page-steps.js';
import { type PersonAtBrowser, signInAndReturn } from '../support/person-at-browser.js';
import { assertTokenAccepted, assertTokenRefused } from '../support/token-checks.js';
import { recordingUrlOpener, type UrlOpener } from '../support/url-opener.js';
import type { CliRun } from '../support/cli-process.js';
import { CLAUDE_CODE_VERSION, claudeSandbox, type ClaudeMcpCredentials, type ClaudeSandbox } from '../support/claude-code.js';
import { compatibilitySuite } from '../support/compatibility.js';
import { startFakeAnthropicApi, type FakeModelApi } from '../support/fake-model-apis.js';
import { visibleText } from '../support/forms.js';
import { freePort } from '../support/free-port.js';
import { asPage, FormBrowser } from '../support/form-browser.js';
import { startLocalMetadataDocuments, type LocalMetadataDocuments } from '../support/local-metadata-documents.js';
import { request } from '../support/raw-oauth.js';
import { readmeCommand } from '../support/readme-recipes.js';
import { ADMIN, restartServer, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { describeRequests, serverLog, ServerLog, type AccessLogEntry } from '../support/server-log.js';
import { isUuidV4 } from '../support/uuids.js';

/**
 * Claude Code (`@anthropic-ai/claude-code`, its own native binary) through the README's recipe:
 * `claude mcp add --transport http …` as the README prints it, `claude mcp list` before and after
 * signing in, `claude mcp login` (its discovery, registration or metadata document, PKCE, browser
 * launch, callback server, token exchange and credentials file) with the person played on our
 * real sign-in and consent forms, a real tools/call, its own refresh ahead of expiry, a server
 * restart, and `claude mcp logout` revoking the tokens. Twice: with dynamic registration, and
 * with its Client ID Metadata Document, the way it takes by default against this server.
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
 * How Claude Code registers, and what that needs around it: `prepare` sets up the surroundings
 * (the server's and Claude Code's environment), `check` looks at the sign-in for the registration
 * (or its absence) and returns the client id Claude Code uses.
 */
interface Registration {
  name: string;
  /** How Claude Code makes itself known at sign-in, in the login test's title. */
  how: string;
  prepare(): Promise<{ serverEnv: Record<string, string>; claudeEnv: Record<string, string>; close(): Promise<void> }>;
  /** Checks the authorization URL Claude Code launched, before the person opens it (and the server sees it). */
  atLaunch(authorizationUrl: URL): void;
  check(context: { server: ServerProcess; log: ServerLog; seen: AccessLogEntry[]; person: PersonAtBrowser }): Promise<string>;
}

const dynamicRegistration: Registration = {
  name: 'dynamic registration',
  how: 'registration',
  // A server that offers metadata documents (CLIENT_ID_METADATA_DOCUMENTS, from the CIMD work; ignored
  // by a server without them) would get Claude Code's claude.ai document URL instead of a registration.
  prepare: async () => ({ serverEnv: { CLIENT_ID_METADATA_DOCUMENTS: 'false' }, claudeEnv: {}, close: async () => {} }),
  atLaunch(authorizationUrl) {
    assert.doesNotMatch(authorizationUrl.searchParams.get('client_id') ?? '', /^https?:/, 'the client_id is the one the server registered, not a document URL');
  },
  async check({ server, seen, person }) {
    const authUrl = person.authorizationUrl;
    const registrations = seen.filter((entry) => entry.url.pathname === '/register');
    assert.equal(registrations.length, 1, `Claude Code registered once:\n${describeRequests(seen)}`);
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

/**
 * What Claude Code does by default with a server that offers metadata documents: no registration;
 * its client_id is the https URL of its metadata document, which the server fetches. Its real one
 * is https://claude.ai/oauth/claude-code-client-metadata; here the same document is served from
 * this machine, and Claude Code's own setting MCP_OAUTH_CLIENT_METADATA_URL points it there.
 */
function metadataDocument(): Registration {
  const path = '/claude-code-client-metadata';
  let local: LocalMetadataDocuments;
  let documentUrl: string;
  return {
    name: 'Client ID Metadata Document',
    how: 'no registration, the server fetches its metadata document',
    async prepare() {
      local = await startLocalMetadataDocuments('localhost');
      documentUrl = local.publishNative(path, 'Claude Code');
      return { serverEnv: local.serverEnv, claudeEnv: { MCP_OAUTH_CLIENT_METADATA_URL: documentUrl }, close: () => local.close() };
    },
    atLaunch(authorizationUrl) {
      // Before anyone opens it: a Claude Code that ignored MCP_OAUTH_CLIENT_METADATA_URL would name
      // https://claude.ai/…, and opening the URL would make the server fetch that document.
      assert.equal(authorizationUrl.searchParams.get('client_id'), documentUrl, 'Claude Code names the local document as its client_id');
    },
    async check({ log, seen, person }) {
      assert.equal(documentUrl, `https://localhost:${local.documents.port}${path}`);
      assert.ok(!seen.some((entry) => entry.url.pathname === '/register'), `no registration:\n${describeRequests(seen)}`);
      assert.equal(person.authorizationUrl.searchParams.get('client_id'), documentUrl, 'the document\'s URL is the client_id');
      const publisher = new URL(documentUrl).host;
      assert.ok(log.events('client_metadata.fetched').some((event) => event.fields.host === publisher), `the server logged fetching the document from ${publisher}`);
      assert.ok(local.documents.hits(path) >= 1, 'the document server was asked for it');
      // Who asks, as the person was shown it: the document's name, and the host that published it.
      assert.equal(person.pages.length, 2, 'a sign-in page, then a consent page');
      for (const page of person.pages) assertIdentifiedByDocument(page, 'Claude Code', documentUrl);
      return documentUrl;
    },
  };
}

function claudeCodeRecipe(registration: Registration): void {
  describe(compatibilitySuite({ client: 'Claude Code', version: CLAUDE_CODE_VERSION, transport: 'Streamable HTTP', registration: registration.name }), () => {
    let server: ServerProcess;
    let browser: UrlOpener;
    let claude: ClaudeSandbox;
    let model: FakeModelApi;
    let clientId: string;
    let prepared: Awaited<ReturnType<Registration['prepare']>> | undefined;
    let login: CliRun | undefined;
    /** The server's log since the current step began. */
    let log: ServerLog;

    before(async () => {
      browser = recordingUrlOpener();
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
      const command = readmeCommand('claude mcp add', server);
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
      const seen = (await log.settle()).access();
      assert.ok(seen.some((entry) => entry.method === 'POST' && entry.url.pathname === '/mcp' && entry.status === 401), `/mcp refused the tokenless request:\n${describeRequests(seen)}`);
      assert.ok(seen.some((entry) => entry.url.pathname === '/.well-known/oauth-protected-resource/mcp' && entry.status === 200), describeRequests(seen));
      assert.ok(seen.some((entry) => entry.url.pathname === '/.well-known/oauth-authorization-server' && entry.status === 200), describeRequests(seen));
      assert.ok(!seen.some((entry) => entry.url.pathname === '/register'), 'a status check registers nothing');
      assert.deepEqual(browser.launches(), [], 'and opens no browser');
    });

    it(`\`claude mcp login uuid\`: ${registration.how}, the browser on our sign-in and consent pages, the callback, the token exchange, the credentials file`, { timeout: 150_000 }, async () => {
      log = await serverLog(server);
      const command = readmeCommand('claude mcp login', server);
      assert.deepEqual(command, ['claude', 'mcp', 'login', NAME]);
      login = claude.startInTerminal(command.slice(1), { env: prepared!.claudeEnv, timeoutMs: 120_000 });
      const launched = await browser.nextLaunch(0, 60_000, { abort: login.result, describe: login.output });
      registration.atLaunch(launched);
      // The person: sign in and allow on the server's own pages; the browser then follows the redirect to Claude Code.
      const person = await signInAndReturn(server.url, launched, ADMIN);
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
      await log.including('/token');
      const seen = (await log.settle()).access();
      const authorizations = seen.filter((entry) => entry.url.pathname === '/auth');
      assert.equal(authorizations.length, 1, describeRequests(seen));
      assert.equal(authorizations[0]!.url.searchParams.get('state'), 'REDACTED', 'the access log hides the state');
      assert.equal(authorizations[0]!.url.searchParams.get('client_id'), params.client_id);

      clientId = await registration.check({ server, log, seen, person });
      assert.equal(params.client_id, clientId);

      // The redirect back: code, state and the issuer (RFC 9207), which Claude Code accepted.
      assert.equal(`${person.callback.origin}${person.callback.pathname}`, params.redirect_uri);
      assert.equal(person.callback.searchParams.get('state'), params.state);
      assert.equal(person.callback.searchParams.get('iss'), server.url);
      const exchanges = seen.filter((entry) => entry.url.pathname === '/token');
      assert.deepEqual(exchanges.map((entry) => `${entry.method} ${entry.status}`), ['POST 200'], 'one token exchange');
      assert.ok(seen.indexOf(authorizations[0]!) < seen.indexOf(exchanges[0]!));
      assert.ok(log.events('login.succeeded').some((event) => event.fields.user === 'admin' && event.fields.client === clientId), log.lines().join('\n'));
      assert.ok(log.events('consent.granted').some((event) => event.fields.client === clientId), log.lines().join('\n'));

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
      assertMcpAccepted((await log.settle()).access());
    });

    it('a real tools/call: the model (a local stand-in) asks for generate_uuid, Claude Code\'s MCP client calls the server and returns a v4 UUID', { timeout: 150_000 }, async () => {
      log = await serverLog(server);
      await generateUuidThroughClaude();
      const seen = (await log.settle()).access();
      assertMcpAccepted(seen);
      assert.ok(!seen.some((entry) => entry.url.pathname === '/token'), 'a fresh token needs no refresh');
      assert.ok(log.events('mcp.session_opened').some((event) => event.fields.client === clientId), log.lines().join('\n'));
    });

    it('refresh: with the stored token within five minutes of expiry, Claude Code refreshes it at /token (rotated), and stays connected', { timeout: 60_000 }, async () => {
      const before = stored();
      const [key] = Object.keys(claude.mcpCredentials()).filter((candidate) => candidate.startsWith(`${NAME}|`));
      // Claude Code refreshes a stored token that expires within 300 s (its provider's tokens()).
      claude.writeMcpCredentials({ ...claude.mcpCredentials(), [key!]: { ...before, expiresAt: Date.now() + MINUTE } });
      log = await serverLog(server);
      assert.equal(await status(), '✔ Connected');
      await log.including('/token');
      const seen = (await log.settle()).access();
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
      const seen = (await log.settle()).access();
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
      // Claude Code made its revocations before it exited: once settled, the log holds them all.
      await log.settle();
      const seen = log.access().filter((entry) => entry.url.pathname === '/revoke');
      assert.deepEqual(seen.map((entry) => `${entry.method} ${entry.status}`), ['POST 200', 'POST 200'], `two revocations in the access log:\n${log.summary()}`);
      assert.ok(log.events('oauth.grant_revoked').some((event) => event.fields.client === clientId && event.fields.route === 'revocation'), log.lines().join('\n'));
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
claudeCodeRecipe(metadataDocument());

/**
 * With metadata documents on and a document the server cannot fetch. Claude Code's own document
 * is at https://claude.ai/…, which a test may not reach (and which a machine with internet access
 * would fetch, changing the outcome); an https URL on this machine where nothing listens stands
 * for it. Claude Code sends the person to the authorization URL without asking the server first,
 * so the error reaches the person, not Claude Code: it waits for its callback until cancelled.
 */
describe('Claude Code with metadata documents on, when the server cannot fetch its document', () => {
  let server: ServerProcess;
  let browser: UrlOpener;
  let claude: ClaudeSandbox;
  let login: CliRun | undefined;
  let documentUrl: string;

  before(async () => {
    browser = recordingUrlOpener();
    claude = claudeSandbox(browser.bin, browser.command);
    documentUrl = `https://localhost:${await freePort()}/claude-code-client-metadata`;
    server = await startServerProcess({ env: { TEST_ONLY_CIMD_ALLOW_LOOPBACK: 'true' } });
  }, { timeout: 60_000 });

  after(async () => {
    login?.stop();
    await login?.result.catch(() => {});
    await server?.stop();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
    claude?.remove();
    browser?.remove();
  }, { timeout: 30_000 });

  it('the person gets our invalid_client page at once, naming the failed document fetch; Claude Code registers nothing and keeps waiting, storing nothing', { timeout: 120_000 }, async () => {
    const env = { MCP_OAUTH_CLIENT_METADATA_URL: documentUrl };
    const added = await claude.run(['mcp', 'add', '--transport', 'http', NAME, server.mcpUrl], { env });
    assert.equal(added.code, 0, added.text);
    const log = await serverLog(server);
    login = claude.startInTerminal(['mcp', 'login', NAME], { env, timeoutMs: 90_000 });
    const authUrl = await browser.nextLaunch(0, 60_000, { abort: login.result, describe: login.output });
    assert.equal(authUrl.searchParams.get('client_id'), documentUrl, 'Claude Code uses its document URL as client_id');

    const page = asPage(await new FormBrowser(server.url).open(authUrl));
    const text = visibleText(page.html);
    assert.equal(page.status, 400, text);
    assert.match(text, /This sign-in request cannot continue/);
    assert.match(text, /client_id metadata document fetch failed: the document could not be reached Error code/);
    assert.match(text, /Error code: invalid_client\./);

    await log.settle();
    assert.deepEqual(log.requests('POST', '/register'), [], 'no registration');
    assert.deepEqual(log.requests('GET', '/auth').map((entry) => entry.status), [400]);
    const publisher = new URL(documentUrl).host;
    assert.ok(log.events('client_metadata.fetch_refused').some((event) => event.fields.host === publisher && event.fields.reason?.startsWith('request failed')), log.lines().join('\n'));
    assert.ok(log.events('oauth.authorization_refused').some((event) => event.fields.code === 'invalid_client'), log.lines().join('\n'));

    // Claude Code learns nothing of it: it still waits for the redirect (or a pasted URL) until the person cancels.
    const state = await Promise.race([login.result.then(() => 'ended'), delay(2_000).then(() => 'waiting')]);
    assert.equal(state, 'waiting', login.output());
    assert.match(login.output(), /Waiting for authorization/);
    login.stop();
    await login.result;
    assert.ok(!Object.keys(claude.mcpCredentials()).some((key) => key.startsWith(`${NAME}|`) && claude.mcpCredentials()[key]!.accessToken), 'no tokens stored');
  });
});
