import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ConfigError } from '../../src/errors.js';
import { loadConfig } from '../../src/config.js';
import { compatibilitySuite } from '../support/compatibility.js';
import { assertMcpPostsCarried, assertOneCodeExchange, assertOneRefresh, recordingFetch, requestsTo, type FetchRecorder } from '../support/fetch-recorder.js';
import { visibleText } from '../support/forms.js';
import { freePort } from '../support/free-port.js';
import { asPage, formWithAction, FormBrowser, type Page } from '../support/form-browser.js';
import { nativeClientMetadata, startLocalMetadataDocuments, type LocalMetadataDocuments } from '../support/local-metadata-documents.js';
import { MetadataDocumentServer } from '../support/metadata-document-server.js';
import { ServerLog } from '../support/server-log.js';
import { codeFrom, consentPage, signInPage } from '../support/page-steps.js';
import { RawOAuthClient, registerRaw, request, tokensOf, type RawResponse, type ServerLike } from '../support/raw-oauth.js';
import { InMemoryOAuthClient, loopbackRedirect, sdkClientMetadata } from '../support/sdk-oauth-client.js';
import { connectSdkClient, generateUuids } from '../support/sdk-flow.js';
import { ADMIN, restartServer, ROOT, SERVER_ENTRY, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import { dependencyVersion } from '../support/third-party.js';
import { eventually } from '../support/time-limit.js';
import { isUuidV4 } from '../support/uuids.js';

/** What a page says, without markup. */
const textOf = (page: Page | RawResponse) => visibleText('html' in page ? page.html : page.text);

/**
 * A refused authorization request: the error page (400, HTML) naming the OAuth error code and why,
 * and never a redirect, since the client and its redirect URI could not be validated.
 */
async function assertAuthorizationRefused(server: ServerLike, clientId: string, redirectUri: string, error: string, description: RegExp): Promise<void> {
  const answer = await request(new RawOAuthClient(server, clientId, [redirectUri], {}).authorizationRequest().url);
  assert.equal(answer.status, 400, `expected 400 ${error}, got ${answer.status}: ${textOf(answer).slice(0, 300)}`);
  assert.equal(answer.headers.get('location'), null, 'never redirected');
  assert.match(answer.headers.get('content-type') ?? '', /^text\/html/);
  const text = textOf(answer);
  assert.match(text, new RegExp(`Error code: ${error}\\.`), text);
  assert.match(text, description, text);
}

/**
 * A document that could not be fetched: the error page names the category in fixed words, and
 * nothing a port scan could use (addresses, DNS answers, error codes); those are in the log only.
 */
async function assertFetchFailed(server: ServerLike, clientId: string, redirectUri: string, words: string): Promise<void> {
  const answer = await request(new RawOAuthClient(server, clientId, [redirectUri], {}).authorizationRequest().url);
  assert.equal(answer.status, 400, textOf(answer).slice(0, 300));
  const text = textOf(answer);
  assert.equal(answer.headers.get('location'), null, 'never redirected');
  const expected = `This sign-in request cannot continue client_id metadata document fetch failed: ${words} Error code: invalid_client.`;
  assert.ok(text.includes(expected), `expected "${expected}" in: ${text}`);
  assert.doesNotMatch(text, /\d+\.\d+\.\d+\.\d+|::1|resolves|\bE[A-Z]{4,}\b|ERR_|content type|bytes/, 'no address, DNS answer or error code on the page');
}

/**
 * The first line of the server's log (without its timestamp) that starts with `start`, waiting up
 * to 5 s for it: the log is written after the response that caused it.
 */
function logLine(server: ServerProcess, start: string): Promise<string> {
  return eventually(() => {
    const line = server.output().split('\n').map((text) => text.replace(/^\S+ /, '')).find((text) => text.startsWith(start));
    assert.ok(line !== undefined, `no log line starting with ${start}:\n${server.output().slice(-2000)}`);
    return line;
  }, 5_000, 25);
}

describe('client ID metadata documents (a client_id that is the https URL of the client\'s metadata)', () => {
  let local: LocalMetadataDocuments;
  let documents: MetadataDocumentServer;
  let server: ServerProcess;
  /** The server as the end-to-end tests run it: documents on this machine allowed, the test CA trusted. */
  const testEnv = () => ({ ...local.serverEnv, CIMD_FETCH_RATE_LIMIT: '100000' });

  before(async () => {
    local = await startLocalMetadataDocuments();
    documents = local.documents;
    server = await startServerProcess({ env: testEnv() });
  });
  after(async () => {
    await server?.stop();
    await local?.close();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  it('the authorization server metadata advertises them, with `none` among the token endpoint auth methods', async () => {
    const metadata = (await request(`${server.url}/.well-known/oauth-authorization-server`)).json!;
    assert.equal(metadata.client_id_metadata_document_supported, true);
    assert.ok((metadata.token_endpoint_auth_methods_supported as string[]).includes('none'));
  });

  describe(compatibilitySuite({ client: 'MCP TypeScript SDK (v1)', version: dependencyVersion('@modelcontextprotocol/sdk'), transport: 'Streamable HTTP', registration: 'Client ID Metadata Document' }), () => {
    const documentPath = '/oauth/sdk-client-metadata.json';
    let documentUrl: string;
    let publisher: string;
    let recorder: FetchRecorder;
    let redirect: string;
    let oauth: InMemoryOAuthClient;
    let browser: FormBrowser;

    before(() => {
      documentUrl = local.publishNative(documentPath, 'SDK metadata-document client');
      publisher = new URL(documentUrl).host;
      recorder = recordingFetch(server.url, (request) => request.url.pathname === '/token');
    });

    it('clientMetadataUrl: no registration; sign-in and consent through the forms name the document\'s URL; the code exchanged with the document URL as client_id', async () => {
      redirect = loopbackRedirect(await freePort());
      oauth = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
      oauth.clientMetadataUrl = documentUrl;
      const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), { authProvider: oauth, fetch: recorder.fetch });
      recorder.step();
      await assert.rejects(new Client({ name: 'sdk-cimd', version: '1.0.0' }).connect(transport), UnauthorizedError);
      assert.equal(oauth.clientInfo?.client_id, documentUrl, 'the SDK uses the document URL as its client_id');
      assert.equal(requestsTo(recorder.since(), 'POST', '/register').length, 0, 'no dynamic registration');
      const authorizationUrl = oauth.authorizationUrl!;
      assert.equal(authorizationUrl.searchParams.get('client_id'), documentUrl);

      browser = new FormBrowser(server.url);
      const login = signInPage(await browser.open(authorizationUrl));
      assert.match(textOf(login), /SDK metadata-document client wants to use this server/);
      assert.ok(textOf(login).includes(`Identified by its metadata document at ${documentUrl} `), 'the page names the document, on a line of its own');
      const consent = consentPage(await browser.submit(login, formWithAction(login, '/login'), { username: ADMIN.username, password: ADMIN.password }));
      assert.match(consent.html, /<h1>Allow access\?<\/h1>/);
      assert.ok(consent.html.includes(`<p class="provenance">Identified by its metadata document at <code>${documentUrl}</code></p>`), consent.html);
      assert.match(textOf(consent), new RegExp(`It will receive the result at ${new URL(redirect).host} \\(an app on this computer\\)`));
      const code = codeFrom(await browser.submit(consent, formWithAction(consent, '/confirm')), redirect, authorizationUrl.searchParams.get('state')!);
      recorder.step();
      await transport.finishAuth(code);
      assertOneCodeExchange(recorder.since(), { clientId: documentUrl, redirectUri: redirect, resource: server.mcpUrl, codeChallenge: authorizationUrl.searchParams.get('code_challenge') });
      assert.ok(oauth.savedTokens?.access_token && oauth.savedTokens.refresh_token, 'access and refresh token issued');

      assert.ok(documents.hits(documentPath) >= 1, 'the server fetched the document');
      assert.equal(await logLine(server, 'INFO client_metadata.fetched'), `INFO client_metadata.fetched host=${publisher}`, 'the fetch is logged with the host only');
    });

    it('generate_uuid with the token, then a refresh by the document URL client', async () => {
      const client = await connectSdkClient(server, oauth, { fetch: recorder.fetch });
      assert.ok(isUuidV4((await generateUuids(client))[0]!));
      await client.close();
      const before = oauth.savedTokens!;
      recorder.step();
      assert.equal(await auth(oauth, { serverUrl: server.mcpUrl, fetchFn: recorder.fetch }), 'AUTHORIZED');
      assertOneRefresh(recorder.since(), { refreshToken: before.refresh_token!, clientId: documentUrl, resource: server.mcpUrl });
      assert.notEqual(oauth.savedTokens!.refresh_token, before.refresh_token, 'refresh tokens rotate');
      const refreshed = await connectSdkClient(server, oauth, { fetch: recorder.fetch });
      assert.ok(isUuidV4((await generateUuids(refreshed))[0]!));
      await refreshed.close();
    });

    it('the same app on another loopback port: the document\'s portless redirect URI matches (RFC 8252 §7.3), and remembered consent asks only "Continue?"', async () => {
      const secondRedirect = loopbackRedirect(await freePort());
      const second = new InMemoryOAuthClient(secondRedirect, sdkClientMetadata(secondRedirect));
      second.clientMetadataUrl = documentUrl;
      second.clientInfo = oauth.clientInfo;
      const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), { authProvider: second, fetch: recorder.fetch });
      await assert.rejects(new Client({ name: 'sdk-cimd', version: '1.0.0' }).connect(transport), UnauthorizedError);
      const again = consentPage(await browser.open(second.authorizationUrl!), 'second run');
      assert.match(again.html, /<h1>Continue\?<\/h1>/, 'remembered consent: only a confirmation');
      assert.ok(textOf(again).includes(`Identified by its metadata document at ${documentUrl}`));
      await transport.finishAuth(codeFrom(await browser.submit(again, formWithAction(again, '/confirm')), secondRedirect));
      const client = await connectSdkClient(server, second, { fetch: recorder.fetch });
      assert.ok(isUuidV4((await generateUuids(client))[0]!));
      await client.close();
    });

    it('after a restart the stored tokens still work, and a refresh makes the server fetch the document once again', async () => {
      server = await restartServer(server, { env: testEnv() });
      recorder = recordingFetch(server.url, (request) => request.url.pathname === '/token');
      const fetchesBefore = documents.hits(documentPath);
      const stored = oauth.savedTokens!;
      recorder.step();
      const client = await connectSdkClient(server, oauth, { fetch: recorder.fetch });
      assert.ok(isUuidV4((await generateUuids(client))[0]!), 'the stored access token works after the restart');
      await client.close();
      assertMcpPostsCarried(recorder.since(), stored.access_token, 3);
      recorder.step();
      assert.equal(await auth(oauth, { serverUrl: server.mcpUrl, fetchFn: recorder.fetch }), 'AUTHORIZED');
      assertOneRefresh(recorder.since(), { refreshToken: stored.refresh_token!, clientId: documentUrl, resource: server.mcpUrl });
      assert.equal(documents.hits(documentPath), fetchesBefore + 1, 'the restarted server fetched the document once to know the client');
      const refreshed = await connectSdkClient(server, oauth, { fetch: recorder.fetch });
      assert.ok(isUuidV4((await generateUuids(refreshed))[0]!));
      await refreshed.close();
    });
  });

  it('a web client\'s document (https redirect URI): consent names its host and is remembered, so the second authorization skips the page', async () => {
    const documentPath = '/web/client.json';
    const documentUrl = documents.url(documentPath);
    const redirectUri = 'https://web-client.example/oauth/callback';
    documents.json(documentPath, { client_id: documentUrl, client_name: 'A web application', redirect_uris: [redirectUri] });
    const client = new RawOAuthClient(server, documentUrl, [redirectUri], {});
    const browser = new FormBrowser(server.url);

    const first = client.authorizationRequest();
    const login = signInPage(await browser.open(first.url));
    const consent = consentPage(await browser.submit(login, formWithAction(login, '/login'), { username: ADMIN.username, password: ADMIN.password }));
    assert.match(textOf(consent), /A web application wants to act as Administrator \(admin\)/);
    assert.ok(textOf(consent).includes(`Identified by its metadata document at ${documentUrl} `));
    assert.match(textOf(consent), /It will receive the result at web-client\.example ?\./);
    const code = codeFrom(await browser.submit(consent, formWithAction(consent, '/confirm')), redirectUri, first.state);
    tokensOf(await client.exchange(code, first.verifier));

    const second = client.authorizationRequest();
    const secondCode = codeFrom(await browser.open(second.url), redirectUri, second.state);
    const tokens = tokensOf(await client.exchange(secondCode, second.verifier));
    assert.ok(tokens.access_token);
  });

  it('a registered client cannot pass for a document one: a name claiming a publisher is shown as its name, and the page says the client registered itself', async () => {
    const client = await RawOAuthClient.register(server, ['https://lookalike.example/cb'], { client_name: 'Claude Code (published by claude.ai)' });
    const login = signInPage(await new FormBrowser(server.url).open(client.authorizationRequest().url));
    assert.match(login.html, /<strong class="client-name">Claude Code \(published by claude\.ai\)<\/strong> wants to use this server/);
    assert.ok(login.html.includes('<p class="provenance">Registered itself with this server (not verified)</p>'), login.html);
    assert.doesNotMatch(textOf(login), /Identified by/);
  });

  it('remembered consent holds for the document the user approved: once its redirect URIs or name change, the consent page is shown again, saying what changed', async () => {
    // A server of its own: the document cache (at least 5 minutes) is emptied by a restart, as time would.
    let own = await startServerProcess({ env: testEnv() });
    try {
      const documentPath = '/changing/client.json';
      const documentUrl = documents.url(documentPath);
      const redirectUri = 'https://web-client.example/oauth/callback';
      const takenOver = 'https://evil.example/callback';
      documents.json(documentPath, { client_id: documentUrl, client_name: 'Changing app', redirect_uris: [redirectUri] });
      const browser = new FormBrowser(own.url);
      const first = new RawOAuthClient(own, documentUrl, [redirectUri], {}).authorizationRequest();
      const login = signInPage(await browser.open(first.url));
      const consent = consentPage(await browser.submit(login, formWithAction(login, '/login'), { username: ADMIN.username, password: ADMIN.password }));
      codeFrom(await browser.submit(consent, formWithAction(consent, '/confirm')), redirectUri, first.state);
      own = await restartServer(own, { env: testEnv() });
      const unchanged = new RawOAuthClient(own, documentUrl, [redirectUri], {}).authorizationRequest();
      codeFrom(await browser.open(unchanged.url), redirectUri, unchanged.state);

      // The domain changes hands: the document now also sends codes elsewhere, under a new name.
      documents.json(documentPath, { client_id: documentUrl, client_name: 'Changing app (new)', redirect_uris: [redirectUri, takenOver] });
      own = await restartServer(own, { env: testEnv() });
      const afterChange = new RawOAuthClient(own, documentUrl, [takenOver], {}).authorizationRequest();
      const again = consentPage(await browser.open(afterChange.url), 'after the document changed');
      assert.match(again.html, /<h1>Allow access\?<\/h1>/, 'asked again, not "Continue?"');
      assert.match(textOf(again), /This application's metadata document has changed since you allowed it: its name and where it receives the result\./);
      assert.ok(again.html.includes('<li>Name: was Changing app, now Changing app (new)</li>'), again.html);
      assert.ok(again.html.includes(`<li>Where it receives the result: added ${takenOver}</li>`), again.html);
      assert.match(textOf(again), /It will receive the result at evil\.example ?\./);
      codeFrom(await browser.submit(again, formWithAction(again, '/confirm')), takenOver, afterChange.state);
      const approvedAgain = new RawOAuthClient(own, documentUrl, [takenOver], {}).authorizationRequest();
      codeFrom(await browser.open(approvedAgain.url), takenOver, approvedAgain.state);
    } finally {
      await own.stop();
      fs.rmSync(own.dataDir, { recursive: true, force: true });
    }
  });

  describe('the document changes, or cannot be fetched, while the consent page is open (a restart empties the document cache, as time would)', () => {
    let own: ServerProcess;
    const redirectUri = 'https://web-client.example/oauth/callback';
    before(async () => {
      own = await startServerProcess({ env: testEnv() });
    });
    after(async () => {
      await own?.stop();
      if (own) fs.rmSync(own.dataDir, { recursive: true, force: true });
    });

    /** Signs admin in for an authorization by `documentUrl`; returns the consent page and the request's state. */
    async function openConsent(browser: FormBrowser, documentUrl: string): Promise<{ page: Page; state: string }> {
      const authorization = new RawOAuthClient(own, documentUrl, [redirectUri], {}).authorizationRequest();
      const login = signInPage(await browser.open(authorization.url));
      const page = consentPage(await browser.submit(login, formWithAction(login, '/login'), { username: ADMIN.username, password: ADMIN.password }));
      return { page, state: authorization.state };
    }

    it('consent is given to the document the page showed: one that gained a redirect URI meanwhile is shown again, saying what changed, and remembered only once allowed', async () => {
      const documentPath = '/changed-while-shown/client.json';
      const documentUrl = documents.url(documentPath);
      const added = 'https://evil.example/callback';
      documents.json(documentPath, { client_id: documentUrl, client_name: 'Shown app', redirect_uris: [redirectUri] });
      const browser = new FormBrowser(own.url);
      const { page: shown, state } = await openConsent(browser, documentUrl);
      assert.doesNotMatch(textOf(shown), /evil\.example/);

      documents.json(documentPath, { client_id: documentUrl, client_name: 'Shown app', redirect_uris: [redirectUri, added] });
      own = await restartServer(own, { env: testEnv() });
      const log = new ServerLog(own);
      const again = consentPage(await browser.submit(shown, formWithAction(shown, '/confirm')), 'after the document changed under the page');
      assert.match(again.html, /<h1>Allow access\?<\/h1>/);
      assert.match(textOf(again), /This application's metadata document changed while this page was open: where it receives the result\. Check it again before you allow it\./);
      await log.settle();
      assert.deepEqual(log.events('consent.granted'), [], 'nothing approved yet');
      assert.deepEqual(log.events('consent.document_changed').map((event) => event.fields.fields), ['redirect_uris']);

      codeFrom(await browser.submit(again, formWithAction(again, '/confirm')), redirectUri, state);
      const next = new RawOAuthClient(own, documentUrl, [added], {}).authorizationRequest();
      codeFrom(await browser.open(next.url), added, next.state);
    });

    it('a document that cannot be fetched when the form is sent: the error page says so, with the OAuth error and its status (not "sign-in expired")', async () => {
      const documentPath = '/gone-while-shown/client.json';
      const documentUrl = documents.url(documentPath);
      documents.json(documentPath, { client_id: documentUrl, client_name: 'Vanishing app', redirect_uris: [redirectUri] });
      const browser = new FormBrowser(own.url);
      const { page: shown } = await openConsent(browser, documentUrl);

      documents.route(documentPath, (_req, res) => res.writeHead(404).end());
      own = await restartServer(own, { env: testEnv() });
      const log = new ServerLog(own);
      const answer = asPage(await browser.submit(shown, formWithAction(shown, '/confirm')));
      assert.equal(answer.status, 400, textOf(answer));
      assert.ok(textOf(answer).includes('This sign-in request cannot continue client_id metadata document fetch failed: its address answered HTTP 404 Error code: invalid_client.'), textOf(answer));
      assert.doesNotMatch(textOf(answer), /expired/);
      await log.settle();
      assert.deepEqual(log.events('consent.granted'), []);
      assert.deepEqual(log.events('interaction.refused').map((event) => event.fields.error), ['invalid_client']);
    });
  });

  it('a document is normalized as a registration body is: null and empty fields are dropped first', async () => {
    const path = '/normalized/empty-fields.json';
    const redirect = 'http://127.0.0.1:50123/callback';
    const emptyFields = { grant_types: null, logo_uri: '', client_uri: null, scope: '' };
    const url = documents.json(path, { ...nativeClientMetadata(documents.url(path), 'Empty fields'), ...emptyFields });
    const answer = await request(new RawOAuthClient(server, url, [redirect], {}).authorizationRequest().url);
    assert.equal(answer.status, 303, `on to the sign-in page: ${textOf(answer).slice(0, 300)}`);
    const { client_id: _, ...body } = nativeClientMetadata(url, 'Empty fields');
    const registered = await registerRaw(server, { ...body, ...emptyFields });
    assert.equal(registered.status, 201, `the same metadata registers: ${registered.text}`);
  });

  describe('refusals: the error page with the OAuth error and why, status 400, never a redirect', () => {
    const redirect = 'http://127.0.0.1:50123/callback';

    /** Serves a native-client document at `path` with `changes` applied; returns its URL. */
    const serveDocument = (path: string, changes: Record<string, unknown>) => {
      const url = documents.url(path);
      return documents.json(path, { ...nativeClientMetadata(url, 'Refused client'), ...changes });
    };

    it('a document whose client_id is not its own URL', async () => {
      const url = serveDocument('/refusals/other-id', { client_id: documents.url('/refusals/someone-else') });
      await assertAuthorizationRefused(server, url, redirect, 'invalid_client_metadata', /client_id metadata document client_id does not match the expected value/);
    });

    it('a document with a client_secret', async () => {
      const url = serveDocument('/refusals/secret', { client_secret: 'shared-secret-value' });
      await assertAuthorizationRefused(server, url, redirect, 'invalid_client_metadata', /client_id metadata document must not contain client_secret/);
    });

    it('a document asking for a shared-secret auth method', async () => {
      const url = serveDocument('/refusals/basic', { token_endpoint_auth_method: 'client_secret_basic' });
      await assertAuthorizationRefused(server, url, redirect, 'invalid_client_metadata', /must not use shared-secret token endpoint authentication methods/);
    });

    it('a document with a plain-http redirect URI that is not loopback (as at registration)', async () => {
      const url = serveDocument('/refusals/http-web', { redirect_uris: ['http://web-client.example/callback'] });
      await assertAuthorizationRefused(server, url, 'http://web-client.example/callback', 'invalid_redirect_uri', /redirect_uris\[0\] uses http but is not loopback/);
    });

    it('a document naming a URL this server would fetch (jwks_uri)', async () => {
      const url = serveDocument('/refusals/jwks', { jwks_uri: 'https://127.0.0.1:1/jwks' });
      await assertAuthorizationRefused(server, url, redirect, 'invalid_client_metadata', /jwks_uri is not supported by this server/);
    });

    it('a redirect_uri the document does not list', async () => {
      const url = serveDocument('/refusals/redirect-uri', {});
      await assertAuthorizationRefused(server, url, 'http://127.0.0.1:50123/elsewhere', 'invalid_redirect_uri', /redirect_uri did not match any of the client's registered redirect_uris/);
      await assertAuthorizationRefused(server, url, 'https://evil.example/callback', 'invalid_redirect_uri', /redirect_uri did not match/);
    });

    it('a document that arrives (200) but cannot be used is fetched once in 30 s, however many authorization requests name it, each answered with the same refusal', async () => {
      const servedJson = (path: string, body: string) => documents.route(path, (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      });
      const unusable: [string, string, RegExp][] = [
        [serveDocument('/unusable/other-id', { client_id: documents.url('/unusable/someone-else') }), 'invalid_client_metadata', /client_id does not match the expected value/],
        [servedJson('/unusable/invalid-json', '{"client_id": '), 'invalid_client', /fetch failed: the document is not JSON/],
        [servedJson('/unusable/array', '[]'), 'invalid_client_metadata', /client_id metadata document is not a JSON object/],
        [serveDocument('/unusable/secret', { client_secret: 'shared-secret-value' }), 'invalid_client_metadata', /must not contain client_secret/],
        [serveDocument('/unusable/basic', { token_endpoint_auth_method: 'client_secret_post' }), 'invalid_client_metadata', /must not use shared-secret token endpoint authentication methods/],
        [serveDocument('/unusable/http-logo', { logo_uri: 'http://web-client.example/logo.png' }), 'invalid_client_metadata', /logo_uri must be an https: URL/],
        // Refused by oidc-provider while it builds the client (addClient), after the download.
        [serveDocument('/unusable/response-type', { response_types: ['token'] }), 'invalid_client_metadata', /response_types/],
      ];
      for (const [url, error, description] of unusable) {
        for (let attempt = 1; attempt <= 3; attempt++) await assertAuthorizationRefused(server, url, redirect, error, description);
        assert.equal(documents.hits(new URL(url).pathname), 1, `${url}: fetched once for three authorization requests`);
      }
    });

    it('a document that is not served as JSON; it is fetched once (a failure is remembered briefly); the log has the host and the reason', async () => {
      documents.route('/refusals/html', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(JSON.stringify(nativeClientMetadata(documents.url('/refusals/html'), 'HTML')));
      });
      await assertFetchFailed(server, documents.url('/refusals/html'), redirect, 'the document is not JSON');
      assert.equal(documents.hits('/refusals/html'), 1);
      assert.equal(
        await logLine(server, 'WARN client_metadata.fetch_refused host=127.0.0.1:' + documents.port + ' reason="answered with content type'),
        `WARN client_metadata.fetch_refused host=127.0.0.1:${documents.port} reason="answered with content type \\"text/html\\", not JSON"`,
      );
    });

    it('a document over 5 KiB', async () => {
      const url = serveDocument('/refusals/large', { client_name: 'x'.repeat(6 * 1024) });
      await assertFetchFailed(server, url, redirect, 'the document is too large');
    });

    it('a redirect (3xx), whose target is never fetched', async () => {
      const target = serveDocument('/refusals/redirect-target', {});
      documents.route('/refusals/moved', (_req, res) => {
        res.writeHead(302, { location: target });
        res.end();
      });
      await assertFetchFailed(server, documents.url('/refusals/moved'), redirect, 'its address answered with a redirect, which is not followed');
      assert.equal(documents.hits('/refusals/redirect-target'), 0);
    });

    it('an answer with an invalid HTTP status (600) or reason phrase: refused, and the server keeps serving', async () => {
      const raw = (path: string, answer: string) => documents.route(path, (req) => req.socket.end(Buffer.from(answer, 'latin1')));
      const invalidStatus = raw('/refusals/status-600', 'HTTP/1.1 600 X\r\nContent-Length: 0\r\n\r\n');
      await assertFetchFailed(server, invalidStatus, redirect, 'its server did not answer with valid HTTP');
      const badReason = raw('/refusals/bad-reason', 'HTTP/1.1 404 A\x01B\r\nContent-Length: 0\r\n\r\n');
      await assertFetchFailed(server, badReason, redirect, 'its address answered HTTP 404');
      const health = await request(`${server.url}/healthz`);
      assert.equal(health.status, 200, 'the server still answers');
      assert.deepEqual(health.json, { status: 'ok' });
    });

    it('a document that is not there (404)', async () => {
      await assertFetchFailed(server, documents.url('/refusals/missing'), redirect, 'its address answered HTTP 404');
    });

    it('a server too slow to answer: refused after 2.5 s', async () => {
      const stalled: http.ServerResponse[] = [];
      documents.route('/refusals/slow', (_req, res) => stalled.push(res));
      const started = Date.now();
      await assertFetchFailed(server, documents.url('/refusals/slow'), redirect, 'the document did not arrive in time');
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 2000 && elapsed < 10_000, `answered after ${elapsed} ms`);
      stalled.forEach((res) => res.destroy());
    });

    it('a closed port: "could not be reached", with the connection error in the log only (no port-scan oracle)', async () => {
      const closed = await freePort();
      await assertFetchFailed(server, `https://127.0.0.1:${closed}/client.json`, redirect, 'the document could not be reached');
      assert.equal(await logLine(server, `WARN client_metadata.fetch_refused host=127.0.0.1:${closed} `), `WARN client_metadata.fetch_refused host=127.0.0.1:${closed} reason="request failed (ECONNREFUSED)"`);
    });

    it('an http:// client_id is not a metadata document URL: an unknown client, and nothing is fetched', async () => {
      let connections = 0;
      const plain = http.createServer((_req, res) => res.end('{}'));
      plain.on('connection', () => (connections += 1));
      await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/client.json`;
        await assertAuthorizationRefused(server, url, redirect, 'invalid_client', /client is invalid/);
        assert.equal(connections, 0);
      } finally {
        plain.close();
      }
    });

    it('at the token endpoint, a client whose document cannot be fetched gets invalid_client as JSON', async () => {
      const client = new RawOAuthClient(server, documents.url('/refusals/token-missing'), [redirect], {});
      const answer = await client.refresh('not-a-refresh-token');
      assert.equal(answer.status, 400, answer.text);
      assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(answer.json?.error, 'invalid_client');
      assert.equal(answer.json?.error_description, 'client_id metadata document fetch failed');
    });
  });

  describe('documents not fetched at all, and how many are fetched at once', () => {
    const redirect = 'http://127.0.0.1:50123/callback';

    it('a URL with a query string: 400 invalid_client at /auth and /token, and no connection', async () => {
      const path = '/limits/query.json';
      documents.json(path, nativeClientMetadata(documents.url(`${path}?v=1`), 'With a query'));
      const before = documents.connections;
      await assertAuthorizationRefused(server, documents.url(`${path}?v=1`), redirect, 'invalid_client', /client_id metadata document URLs with a query string are not fetched/);
      const answer = await new RawOAuthClient(server, documents.url(`${path}?v=1`), [redirect], {}).refresh('not-a-refresh-token');
      assert.equal(answer.status, 400, answer.text);
      assert.deepEqual(answer.json, { error: 'invalid_client', error_description: 'client_id metadata document URLs with a query string are not fetched' });
      assert.equal(documents.connections, before, 'nothing connected');
    });

    it('this server\'s own /auth as a client_id, nesting another: refused, and the server never fetches itself', async () => {
      const own = `https://localhost:${server.port}`;
      await assertAuthorizationRefused(server, `${own}/oauth/client.json`, redirect, 'invalid_client', /client_id metadata document URLs on this server's own host are not fetched/);
      const nested = `${own}/auth?client_id=${encodeURIComponent(`${own}/auth?client_id=${encodeURIComponent(`${own}/auth`)}`)}`;
      await assertAuthorizationRefused(server, nested, redirect, 'invalid_client', /client_id metadata document URLs with a query string are not fetched/);
      assert.doesNotMatch(server.output(), new RegExp(`client_metadata\\.fetch_refused host=localhost:${server.port} `), 'no fetch was made');
    });

    it('at most 8 documents are fetched at once: the 9th is refused at once with 503 temporarily_unavailable (not queued, not fetched), and fetched once a place is free', async () => {
      const stalled: http.ServerResponse[] = [];
      const paths = Array.from({ length: 8 }, (_, index) => `/limits/stalled-${index}.json`);
      for (const path of paths) documents.route(path, (_req, res) => stalled.push(res));
      const waiting = paths.map((path) => request(new RawOAuthClient(server, documents.url(path), [redirect], {}).authorizationRequest().url));
      await eventually(() => assert.equal(stalled.length, 8), 10_000);
      const ninth = documents.json('/limits/ninth.json', nativeClientMetadata(documents.url('/limits/ninth.json'), 'The ninth'));
      const started = Date.now();
      const busy = await request(new RawOAuthClient(server, ninth, [redirect], {}).authorizationRequest().url);
      assert.ok(Date.now() - started < 2000, `answered after ${Date.now() - started} ms, without waiting for a place`);
      assert.equal(busy.status, 503, textOf(busy));
      assert.equal(busy.headers.get('retry-after'), '3');
      assert.match(textOf(busy), /too many client_id metadata documents are being fetched at once; try again in a few seconds Error code: temporarily_unavailable\./);
      assert.equal(documents.hits('/limits/ninth.json'), 0, 'the 9th was not fetched');

      for (const res of stalled) res.writeHead(404).end();
      for (const answer of await Promise.all(waiting)) assert.equal(answer.status, 400);
      const fetched = await request(new RawOAuthClient(server, ninth, [redirect], {}).authorizationRequest().url);
      assert.equal(fetched.status, 303, 'on to the sign-in page');
      assert.equal(documents.hits('/limits/ninth.json'), 1);
    });
  });

  describe('fetches per client address (CIMD_FETCH_RATE_LIMIT), the address as Express sees it through TRUST_PROXY', () => {
    let proxied: ServerProcess;
    let base: string;
    const redirect = 'http://127.0.0.1:50123/callback';
    /** As the TLS proxy sends it on: the client's address, as forwarded by a second proxy (203.0.113.7) that TRUST_PROXY names. */
    const from = (client: string) => ({ 'x-forwarded-proto': 'https', 'x-forwarded-for': `${client}, 203.0.113.7` });
    const authorize = (clientId: string, client: string) => request(new RawOAuthClient({ url: base, mcpUrl: proxied.mcpUrl }, clientId, [redirect], {}).authorizationRequest().url, { headers: from(client) });

    before(async () => {
      const port = await freePort();
      base = `http://localhost:${port}`;
      proxied = await startServerProcess({ port, env: { PUBLIC_URL: `https://localhost:${port}`, TRUST_PROXY: 'loopback, 203.0.113.7', CIMD_FETCH_RATE_LIMIT: '2' } });
    });
    after(async () => {
      await proxied?.stop();
      if (proxied) fs.rmSync(proxied.dataDir, { recursive: true, force: true });
    });

    it('past the limit: 429 temporarily_unavailable with Retry-After, at /auth and /token; a failure answered from memory does not count; another address has its own budget', async () => {
      // Loopback addresses (no test-only setting here): each fetch is refused by the address policy, without a connection.
      for (const path of ['/one.json', '/two.json']) {
        const refused = await authorize(`https://127.0.0.1${path}`, '198.51.100.1');
        assert.equal(refused.status, 400, textOf(refused));
        assert.match(textOf(refused), /fetch failed: the document's address is not allowed/);
      }
      const limited = await authorize('https://127.0.0.1/three.json', '198.51.100.1');
      assert.equal(limited.status, 429, textOf(limited));
      const wait = Number(limited.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= 60, `Retry-After: ${wait}`);
      assert.match(textOf(limited), /too many client_id metadata document fetches from your address; try again in \d+ s Error code: temporarily_unavailable\./);
      const token = await request(`${base}/token`, {
        method: 'POST',
        headers: { ...from('198.51.100.1'), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'not-a-refresh-token', client_id: 'https://127.0.0.1/four.json' }),
      });
      assert.equal(token.status, 429, token.text);
      assert.equal(token.json?.error, 'temporarily_unavailable');

      const remembered = await authorize('https://127.0.0.1/one.json', '198.51.100.1');
      assert.equal(remembered.status, 400, 'a remembered failure is answered, not counted');
      const other = await authorize('https://127.0.0.1/three.json', '198.51.100.2');
      assert.equal(other.status, 400, `another client behind the same proxies is not limited: ${textOf(other)}`);
      assert.match(await logLine(proxied, 'WARN oauth.authorization_refused route=authorization ip=198.51.100.1 error="too many'), /code=temporarily_unavailable$/);
    });
  });

  /**
   * Private, link-local and cloud-metadata addresses are refused by the same address policy; they
   * are tested in test/http/safe-fetch.test.ts, not here: end to end, a regression would make the
   * server really connect to them (a CI runner's metadata service). Loopback shows the whole path,
   * and the test can see that nothing connected.
   */
  describe('without the test-only setting, documents on this machine are refused before connecting', () => {
    let strict: ServerProcess;
    let documentsV6: MetadataDocumentServer;
    const redirect = 'http://127.0.0.1:50123/callback';
    /** A valid document for whatever URL it is fetched at, so only the address policy can refuse it. */
    const anyDocument = (req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(nativeClientMetadata(`https://${req.headers.host}${req.url}`, 'Local document')));
    };

    before(async () => {
      documentsV6 = await MetadataDocumentServer.start(local.certificates, '::1');
      documentsV6.route('/local.json', anyDocument);
      documents.route('/local.json', anyDocument);
      // The test CA is trusted, so only the address policy stands between the server and these documents.
      strict = await startServerProcess({ env: { NODE_EXTRA_CA_CERTS: local.certificates.caFile } });
    });
    after(async () => {
      await strict?.stop();
      await documentsV6?.close();
      if (strict) fs.rmSync(strict.dataDir, { recursive: true, force: true });
    });

    it('127.0.0.1 and [::1]: invalid_client for the address, before connecting; documents on other ports of this machine are refused for the port, so no connection arrives', async () => {
      await assertFetchFailed(strict, 'https://127.0.0.1/local.json', redirect, 'the document\'s address is not allowed');
      await assertFetchFailed(strict, 'https://[::1]/local.json', redirect, 'the document\'s address is not allowed');
      assert.equal(await logLine(strict, 'WARN client_metadata.fetch_refused host=127.0.0.1 '), 'WARN client_metadata.fetch_refused host=127.0.0.1 reason="127.0.0.1 is not a public address (loopback)"', 'the log has the details');
      const before = { v4: documents.connections, v6: documentsV6.connections };
      for (const url of [documents.url('/local.json'), documentsV6.url('/local.json')]) {
        await assertAuthorizationRefused(strict, url, redirect, 'invalid_client', /cannot continue client_id metadata document URLs on a port other than 443 are not fetched Error code: invalid_client\./);
      }
      assert.deepEqual({ v4: documents.connections, v6: documentsV6.connections }, before, 'nothing connected');
    });

    it('a document on this server\'s own host (PUBLIC_URL\'s, here localhost) is not fetched', async () => {
      await assertAuthorizationRefused(strict, 'https://localhost/oauth/client.json', redirect, 'invalid_client', /client_id metadata document URLs on this server's own host are not fetched/);
      await assertAuthorizationRefused(strict, 'https://localhost./oauth/client.json', redirect, 'invalid_client', /on this server's own host are not fetched/);
      assert.doesNotMatch(strict.output(), /client_metadata\.fetch_refused host=localhost/, 'nothing was fetched');
    });
  });

  describe('switched off (CLIENT_ID_METADATA_DOCUMENTS=false)', () => {
    let off: ServerProcess;
    before(async () => {
      off = await startServerProcess({ env: { ...testEnv(), CLIENT_ID_METADATA_DOCUMENTS: 'false' } });
    });
    after(async () => {
      await off?.stop();
      if (off) fs.rmSync(off.dataDir, { recursive: true, force: true });
    });

    it('not advertised, and a document URL is an unknown client that is never fetched', async () => {
      const metadata = (await request(`${off.url}/.well-known/oauth-authorization-server`)).json!;
      assert.equal(metadata.client_id_metadata_document_supported, undefined);
      const documentUrl = documents.url('/off/client.json');
      documents.json('/off/client.json', nativeClientMetadata(documentUrl, 'Not used'));
      await assertAuthorizationRefused(off, documentUrl, 'http://127.0.0.1:50123/callback', 'invalid_client', /client is invalid/);
      assert.equal(documents.hits('/off/client.json'), 0);
    });
  });

  describe('the test-only setting', () => {
    it('is refused unless PUBLIC_URL is loopback, at start-up with one line naming it', () => {
      const env = { TEST_ONLY_CIMD_ALLOW_LOOPBACK: 'true', PUBLIC_URL: 'https://mcp.example.com', TRUST_PROXY: '1' };
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && error.setting === 'TEST_ONLY_CIMD_ALLOW_LOOPBACK');
      const dataDir = tempDir('refused');
      const result = spawnSync(process.execPath, [path.join(ROOT, SERVER_ENTRY)], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, DATA_DIR: dataDir, ...env },
        encoding: 'utf8',
        timeout: 20_000,
      });
      fs.rmSync(dataDir, { recursive: true, force: true });
      assert.equal(result.status, 2);
      assert.match(result.stderr, /^Configuration error: TEST_ONLY_CIMD_ALLOW_LOOPBACK is for tests on this machine only; it is refused when PUBLIC_URL is not loopback \(https:\/\/mcp\.example\.com\)$/m);
    });

    it('is refused when the server listens beyond loopback, even with a loopback PUBLIC_URL', () => {
      for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
        assert.throws(() => loadConfig({ TEST_ONLY_CIMD_ALLOW_LOOPBACK: 'true', HOST: host }), (error: unknown) => error instanceof ConfigError && error.message.endsWith(`refused when HOST is not loopback (${host})`));
      }
      assert.deepEqual(loadConfig({ TEST_ONLY_CIMD_ALLOW_LOOPBACK: 'true', HOST: '127.0.0.1' }).bindHosts, ['127.0.0.1']);
    });

    it('is off by default, and documents are on by default', () => {
      const config = loadConfig({});
      assert.equal(config.testOnlyCimdAllowLoopback, false);
      assert.equal(config.clientIdMetadataDocuments, true);
      assert.equal(config.cimdFetchRateLimit, 30, 'document fetches per address per minute');
      assert.equal(loadConfig({ TEST_ONLY_CIMD_ALLOW_LOOPBACK: 'true' }).testOnlyCimdAllowLoopback, true);
    });
  });
});
