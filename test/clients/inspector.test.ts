import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { assertIdentifiedByDocument } from '../support/page-steps.js';
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
import { InspectorSandbox, type InspectorResult, type InspectorRun } from '../support/inspector-cli.js';
import { startLocalMetadataDocuments, type LocalMetadataDocuments } from '../support/local-metadata-documents.js';
import { ADMIN, restartServer, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { serverLog, type ServerLog } from '../support/server-log.js';
import { installedVersion } from '../support/third-party.js';
import { sleep } from '../support/time-limit.js';
import { introspect } from '../support/token-checks.js';
import { isUuidV7 } from '../support/uuids.js';

/**
 * The MCP Inspector's CLI (@modelcontextprotocol/inspector 2.x, `--cli`), which does the whole
 * OAuth flow itself: on a 401 it discovers, registers (DCR, or with --client-metadata-url names its
 * metadata document instead), opens the browser at the authorization URL, takes the redirect on its
 * loopback --callback-url, exchanges the code and keeps the result for later invocations
 * (~/.mcp-inspector: storage/oauth.json for discovery and the registration, the secret store for
 * tokens). Each step below is one invocation, as a person or a script runs it.
 *
 * (The older @modelcontextprotocol/inspector-cli 1.0.3 has no OAuth at all, only --header, so it
 * could only be driven with a token obtained some other way; the 2.x CLI needs no such help.)
 */

const SUCCESS_PAGE = /OAuth complete/;
const TOOL_NAMES = ['generate_uuid', 'get_user_profile'];

/** What every step works on: the server as it is now (a restart replaces it), and the Inspector's home. */
interface InspectorBed {
  server: ServerProcess;
  sandbox: InspectorSandbox;
}

/** Call inside a describe: before its tests, an Inspector sandbox and the real server (with `env()`); after them, both gone. */
function inspectorBed(env: () => Record<string, string> = () => ({})): InspectorBed {
  const bed = {} as InspectorBed;
  before(async () => {
    bed.sandbox = new InspectorSandbox();
    bed.server = await startServerProcess({ env: env() });
  }, { timeout: 30_000 });
  after(async () => {
    bed.sandbox?.dispose();
    await bed.server?.stop();
    if (bed.server) fs.rmSync(bed.server.dataDir, { recursive: true, force: true });
  }, { timeout: 30_000 });
  return bed;
}

const callbackUrl = async () => `http://127.0.0.1:${await freePort()}/oauth/callback`;

/** Fails with what the Inspector printed and the server's access log: they say which step gave up. */
const explain = (result: InspectorResult, log: ServerLog) =>
  `exit ${result.code}\n--- Inspector stderr ---\n${result.stderr.slice(-3000)}\n--- stdout ---\n${result.stdout.slice(0, 1000)}\n--- server access log ---\n${log.summary()}`;

interface Invocation {
  /** Its JSON result. */
  result: Record<string, unknown>;
  /** What the server logged meanwhile. */
  log: ServerLog;
  output: InspectorResult;
}

/** An invocation that must succeed without the person. */
async function invoke({ server, sandbox }: InspectorBed, args: string[]): Promise<Invocation> {
  const log = await serverLog(server);
  const seen = sandbox.browser.launches().length;
  const output = await sandbox.start([...args, '--format', 'json']).exited;
  await log.settle();
  assert.equal(output.code, 0, explain(output, log));
  assert.equal(sandbox.browser.launches().length, seen, 'no browser launch');
  assert.deepEqual(log.requests('POST', '/register'), [], 'no registration');
  assert.deepEqual(log.requests('GET', '/auth'), [], 'no authorization request');
  return { result: (JSON.parse(output.stdout) as { result: Record<string, unknown> }).result, log, output };
}

/** An invocation that opens the browser once: the person signs in and allows through the forms, and it succeeds. */
async function invokeWithSignIn({ server, sandbox }: InspectorBed, args: string[]): Promise<Invocation & { person: PersonAtBrowser }> {
  const log = await serverLog(server);
  const seen = sandbox.browser.launches().length;
  const run: InspectorRun = sandbox.start([...args, '--format', 'json']);
  const person = await signInAtLaunch(sandbox.browser, seen, server.url, ADMIN, { abort: run.exited }).catch(async (error: unknown) => {
    run.kill();
    assert.fail(`${error instanceof Error ? error.message : String(error)}\n${explain(await run.exited, log)}`);
  });
  const output = await run.exited;
  await log.settle();
  assert.equal(output.code, 0, explain(output, log));
  assert.equal(sandbox.browser.launches().length, seen + 1, 'one browser launch');
  return { result: (JSON.parse(output.stdout) as { result: Record<string, unknown> }).result, log, output, person };
}

const generatedV7 = (result: Record<string, unknown>) => {
  const structured = result.structuredContent as { version: string; uuids: string[] };
  assert.equal(structured.version, 'v7');
  assert.equal(structured.uuids.length, 1);
  assert.ok(isUuidV7(structured.uuids[0]!), structured.uuids[0]);
  assert.deepEqual(result.content, [{ type: 'text', text: structured.uuids[0] }]);
};

const toolNames = (result: Record<string, unknown>) => (result.tools as { name: string }[]).map((tool) => tool.name).sort();

/** The tokens it keeps for the server (the issuer is the server's URL). */
const tokens = ({ server, sandbox }: InspectorBed) => sandbox.tokens(server.mcpUrl, server.url);
/** The client it keeps for the server: registered, or the metadata document URL. */
const storedClient = ({ server, sandbox }: InspectorBed) => sandbox.serverState(server.mcpUrl).byIssuer[server.url]!;

describe(compatibilitySuite({ client: 'MCP Inspector CLI', version: installedVersion('@modelcontextprotocol/inspector'), transport: 'Streamable HTTP', registration: 'dynamic registration' }), () => {
  const bed = inspectorBed();
  const registration = () => storedClient(bed).clientInformation;

  it('without stored auth, --stored-auth-only refuses with exit 3 (auth_required) and opens no browser: the server challenged it', { timeout: 60_000 }, async () => {
    const log = await serverLog(bed.server);
    const output = await bed.sandbox.start([bed.server.mcpUrl, '--method', 'tools/list', '--stored-auth-only', '--format', 'json']).exited;
    await log.settle();
    assert.equal(output.code, 3, explain(output, log));
    const envelope = JSON.parse(output.stderr.trim().split('\n').at(-1)!) as { error: { code: string; message: string } };
    assert.equal(envelope.error.code, 'auth_required');
    assert.match(envelope.error.message, /invalid_token/, 'the server\'s own error came through');
    assert.deepEqual(log.access().map((entry) => `${entry.method} ${entry.url.pathname} ${entry.status}`), ['POST /mcp 401'], 'one unauthenticated request, challenged');
    assert.deepEqual(bed.sandbox.browser.launches(), []);
  });

  it('first invocation (--method tools/list): discovery, registration, sign-in and consent through the forms, token, tools; what it stored, in a file', { timeout: 90_000 }, async () => {
    const redirectUri = await callbackUrl();
    const { result, log, output, person } = await invokeWithSignIn(bed, [bed.server.mcpUrl, '--method', 'tools/list', '--callback-url', redirectUri]);
    assert.deepEqual(toolNames(result), TOOL_NAMES);

    // It says where the person must go, and launched the browser there (once).
    assert.ok(output.stderr.includes(`Please navigate to: ${person.authorizationUrl.href}`), 'the URL it printed is the one it launched');
    assert.match(output.stderr, /Authorization complete\./);

    // What it sent: a POST that drew the challenge, both metadata documents, one registration, one code exchange.
    const access = log.access();
    assert.equal(`${access[0]?.method} ${access[0]?.url.pathname} ${access[0]?.status}`, 'POST /mcp 401', `its first request:\n${log.summary()}`);
    assert.ok(log.requests('GET', '/.well-known/oauth-protected-resource/mcp').some((entry) => entry.status === 200), 'read the protected resource metadata (path form)');
    assert.ok(log.requests('GET', '/.well-known/oauth-authorization-server').some((entry) => entry.status === 200), 'read the authorization server metadata');
    assert.deepEqual(log.requests('POST', '/register').map((entry) => entry.status), [201], 'registered once');
    assert.deepEqual(log.requests('POST', '/token').map((entry) => entry.status), [200], 'one token request, accepted');
    assertOnly401Challenges(log);
    assertMcpAcceptedOnceAuthorized(log);

    // What it stored: discovery and the registration in its OAuth state file…
    const state = bed.sandbox.serverState(bed.server.mcpUrl);
    assert.equal(state.activeIssuer, bed.server.url);
    assert.equal(state.discoveryState?.resourceMetadataUrl, `${bed.server.url}/.well-known/oauth-protected-resource/mcp`);
    const client = registration();
    assert.equal(client.client_name, 'MCP Inspector');
    assert.deepEqual(client.redirect_uris, [redirectUri], 'registered the --callback-url');
    assert.equal(client.token_endpoint_auth_method, 'none', 'a public client');
    assert.equal(client.application_type, 'native');
    assert.deepEqual(client.grant_types, ['authorization_code', 'refresh_token']);
    assert.equal(storedClient(bed).clientRegistrationKind, 'dcr');
    assert.ok(!fs.readFileSync(bed.sandbox.statePath, 'utf8').includes('access_token'), 'no token in the state file');
    // …and the tokens in the file secret store (forced: no keychain here), unencrypted as no key was given.
    assert.equal(bed.sandbox.secrets().encryption, 'none');
    const stored = tokens(bed);
    assert.equal(stored.token_type, 'Bearer');
    assert.ok(stored.refresh_token, 'a refresh token');
    await assertTokenFor(bed.server, client.client_id, stored.access_token);

    assertAuthorizationRequest(person.authorizationUrl, bed.server, { clientId: client.client_id, redirectUri });
    assert.ok(person.authorizationUrl.searchParams.get('scope')!.split(' ').includes('offline_access'), 'asks for offline_access, which the metadata offers…');
    assert.equal(person.authorizationUrl.searchParams.get('prompt'), 'consent', '…and so sends prompt=consent');
    assertAuthorizationResponse(person, bed.server, SUCCESS_PAGE);
    assert.deepEqual(log.events('consent.granted').map((event) => event.fields.client), [client.client_id]);
    const sessions = log.events('mcp.session_opened');
    assert.ok(sessions.length > 0, `it opened an MCP session:\n${log.lines().join('\n')}`);
    assert.deepEqual(sessions.filter((event) => event.fields.client !== client.client_id), [], 'every MCP session it opened is its registered client\'s');

    // Its own account of its store.
    const list = await bed.sandbox.start(['--server-url', bed.server.mcpUrl, '--list-stored-auth']).exited;
    assert.deepEqual(JSON.parse(list.stdout), { oauthStatePath: bed.sandbox.statePath, storedServerUrls: [bed.server.mcpUrl] });
  });

  it('second invocation (--method tools/call --tool-name generate_uuid --tool-arg version=v7): the stored auth is reused, no browser, registration or token request', { timeout: 60_000 }, async () => {
    const before = tokens(bed);
    const { result, log } = await invoke(bed, [bed.server.mcpUrl, '--method', 'tools/call', '--tool-name', 'generate_uuid', '--tool-arg', 'version=v7', '--callback-url', await callbackUrl()]);
    generatedV7(result);
    assert.deepEqual(log.requests('POST', '/token'), [], 'no token request');
    assertOnly401Challenges(log);
    assertMcpAcceptedOnceAuthorized(log);
    assert.deepEqual(log.access().filter((entry) => entry.status === 401), [], 'not even one challenge: it sent the stored token from the start');
    assert.deepEqual(tokens(bed), before);
  });

  it('after the server restarts on the same data and port: --stored-auth-only works with the stored tokens', { timeout: 90_000 }, async () => {
    const before = tokens(bed);
    bed.server = await restartServer(bed.server);

    const { result, log } = await invoke(bed, [bed.server.mcpUrl, '--method', 'tools/call', '--tool-name', 'generate_uuid', '--tool-arg', 'version=v7', '--stored-auth-only']);
    generatedV7(result);
    assert.deepEqual(log.requests('POST', '/token'), [], 'the stored access token was accepted as it is');
    assertMcpAcceptedOnceAuthorized(log);
    assert.deepEqual(tokens(bed), before);
  });

  it('refresh before connecting (--use-stored-auth): one refresh grant with the refresh token issued before the restart, the rotated tokens stored', { timeout: 90_000 }, async () => {
    // Restarted with a short access-token lifetime so that the next test can watch the refreshed token expire.
    bed.server = await restartServer(bed.server, { env: { ALLOW_SHORT_ACCESS_TOKEN_TTL: 'true', ACCESS_TOKEN_TTL: '15s' } });

    const before = tokens(bed);
    const { result, log } = await invoke(bed, ['--server-url', bed.server.mcpUrl, '--use-stored-auth', '--method', 'tools/list']);
    assert.deepEqual(toolNames(result), TOOL_NAMES);
    assert.deepEqual(log.requests('POST', '/token').map((entry) => entry.status), [200], 'one refresh, accepted');
    // This path does not read the resource metadata: it guesses the authorization server's metadata
    // URLs from the MCP URL (RFC 8414 and OIDC path forms, which 404 here) before the origin's.
    const failed = log.access().filter((entry) => entry.status >= 400);
    assert.ok(failed.length > 0, `it guessed metadata URLs first:\n${log.summary()}`);
    assert.ok(failed.every((entry) => entry.method === 'GET' && entry.status === 404 && entry.url.pathname.includes('.well-known')), `only metadata guesses failed:\n${log.summary()}`);
    assert.ok(log.requests('GET', '/.well-known/oauth-authorization-server').some((entry) => entry.status === 200));
    assertMcpAcceptedOnceAuthorized(log);

    const after = tokens(bed);
    assert.notEqual(after.access_token, before.access_token, 'a new access token');
    assert.notEqual(after.refresh_token, before.refresh_token, 'the rotated refresh token');
    assert.equal(after.expires_in, 15, 'issued under the new lifetime');
    await assertTokenFor(bed.server, registration().client_id, after.access_token);
  });

  it('refresh on 401: once the server no longer accepts the stored access token (expired), the next invocation refreshes and retries, no browser', { timeout: 90_000 }, async () => {
    const before = tokens(bed);
    const clientId = registration().client_id;
    const exp = (await introspect(bed.server, clientId, before.access_token)).json?.exp as number;
    assert.ok(exp * 1000 - Date.now() < 20_000, 'the stored access token is the short-lived one');
    await sleep(Math.max(0, exp * 1000 - Date.now() + 1_500));
    assert.equal((await introspect(bed.server, clientId, before.access_token)).json?.active, false, 'the server no longer accepts it');

    const { result, log } = await invoke(bed, [bed.server.mcpUrl, '--method', 'tools/call', '--tool-name', 'generate_uuid', '--tool-arg', 'version=v7']);
    generatedV7(result);
    const sequence = log.access().map((entry) => `${entry.method} ${entry.url.pathname} ${entry.status}`);
    assert.deepEqual(sequence.slice(0, 1), ['POST /mcp 401'], `the stored token was refused:\n${log.summary()}`);
    assert.deepEqual(log.requests('POST', '/token').map((entry) => entry.status), [200], 'one refresh, accepted');
    assertOnly401Challenges(log);
    assertMcpAcceptedOnceAuthorized(log);

    const after = tokens(bed);
    assert.notEqual(after.access_token, before.access_token);
    assert.notEqual(after.refresh_token, before.refresh_token);
    await assertTokenFor(bed.server, clientId, after.access_token);
  });
});

/**
 * The same CLI with its Client ID Metadata Document (--client-metadata-url): instead of registering
 * it uses the document's URL as its client_id, and the server fetches the document (served here
 * over https from this machine). The path is the one above; what it shares with dynamic
 * registration on the wire is checked there.
 */
describe(compatibilitySuite({ client: 'MCP Inspector CLI', version: installedVersion('@modelcontextprotocol/inspector'), transport: 'Streamable HTTP', registration: 'Client ID Metadata Document' }), () => {
  const path = '/inspector-client-metadata.json';
  let local: LocalMetadataDocuments;
  let documentUrl: string;
  before(async () => {
    local = await startLocalMetadataDocuments();
    // Its --callback-url is on 127.0.0.1 at /oauth/callback; the document lists it without a port.
    documentUrl = local.publishNative(path, 'MCP Inspector', ['http://127.0.0.1/oauth/callback']);
  }, { timeout: 30_000 });
  after(() => local?.close());
  const bed = inspectorBed(() => local.serverEnv);

  it('first invocation with --client-metadata-url: no registration, the document URL as client_id, sign-in and consent naming the document\'s host, token, tools', { timeout: 90_000 }, async () => {
    const redirectUri = await callbackUrl();
    const { result, log, person } = await invokeWithSignIn(bed, [bed.server.mcpUrl, '--method', 'tools/list', '--client-metadata-url', documentUrl, '--callback-url', redirectUri]);
    assert.deepEqual(toolNames(result), TOOL_NAMES);

    assert.deepEqual(log.requests('POST', '/register'), [], 'no registration');
    assert.deepEqual(log.requests('POST', '/token').map((entry) => entry.status), [200], 'one token request, accepted');
    assertOnly401Challenges(log);
    assertMcpAcceptedOnceAuthorized(log);
    assertAuthorizationRequest(person.authorizationUrl, bed.server, { clientId: documentUrl, redirectUri });
    assertAuthorizationResponse(person, bed.server, SUCCESS_PAGE);

    // The server fetched the document, and the person was told who published the name they saw.
    const publisher = new URL(documentUrl).host;
    assert.ok(local.documents.hits(path) >= 1, 'the document server was asked for it');
    assert.deepEqual(log.events('client_metadata.fetched').map((event) => event.fields.host), [publisher], 'fetched once, logged with the host only');
    assert.equal(person.pages.length, 2, 'a sign-in page, then a consent page');
    for (const page of person.pages) assertIdentifiedByDocument(page, 'MCP Inspector', documentUrl);
    assert.deepEqual(log.events('consent.granted').map((event) => event.fields.client), [documentUrl]);

    // What it stored: the document URL as its client, of the CIMD kind, and tokens for it.
    assert.deepEqual(storedClient(bed).clientInformation.client_id, documentUrl);
    assert.equal(storedClient(bed).clientRegistrationKind, 'cimd');
    await assertTokenFor(bed.server, documentUrl, tokens(bed).access_token);
  });

  it('second invocation (tools/call generate_uuid version=v7): the stored auth is reused, no browser or token request', { timeout: 60_000 }, async () => {
    const before = tokens(bed);
    const { result, log } = await invoke(bed, [bed.server.mcpUrl, '--method', 'tools/call', '--tool-name', 'generate_uuid', '--tool-arg', 'version=v7', '--client-metadata-url', documentUrl, '--callback-url', await callbackUrl()]);
    generatedV7(result);
    assert.deepEqual(log.requests('POST', '/token'), [], 'no token request');
    assertMcpAcceptedOnceAuthorized(log);
    assert.deepEqual(tokens(bed), before);
  });

  it('after the server restarts: the stored tokens work as they are, and a refresh (--use-stored-auth) by the document URL client makes the restarted server fetch the document again', { timeout: 90_000 }, async () => {
    const before = tokens(bed);
    bed.server = await restartServer(bed.server, { env: local.serverEnv });
    const stored = await invoke(bed, [bed.server.mcpUrl, '--method', 'tools/call', '--tool-name', 'generate_uuid', '--tool-arg', 'version=v7', '--stored-auth-only']);
    generatedV7(stored.result);
    assert.deepEqual(stored.log.requests('POST', '/token'), [], 'the stored access token was accepted as it is');
    assertMcpAcceptedOnceAuthorized(stored.log);

    const fetchedBefore = local.documents.hits(path);
    const { result, log } = await invoke(bed, ['--server-url', bed.server.mcpUrl, '--use-stored-auth', '--method', 'tools/list']);
    assert.deepEqual(toolNames(result), TOOL_NAMES);
    assert.deepEqual(log.requests('POST', '/token').map((entry) => entry.status), [200], 'one refresh, accepted');
    assertMcpAcceptedOnceAuthorized(log);
    assert.equal(local.documents.hits(path), fetchedBefore + 1, 'the restarted server fetched the document once to know the client');
    const after = tokens(bed);
    assert.notEqual(after.access_token, before.access_token, 'a new access token');
    assert.notEqual(after.refresh_token, before.refresh_token, 'the rotated refresh token');
    await assertTokenFor(bed.server, documentUrl, after.access_token);
  });
});
