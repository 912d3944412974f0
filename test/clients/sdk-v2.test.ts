import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { auth, Client, IssuerMismatchError, StreamableHTTPClientTransport, UnauthorizedError, type CallToolResult } from '@modelcontextprotocol/client';
import { MCP_SCOPES, OIDC_SCOPES } from '../../src/authorization/scopes.js';
import { compatibilitySuite } from '../support/compatibility.js';
import { assertMcpPostsCarried, assertOneCodeExchange, assertOneRefresh, recordingFetch, requestsTo, type FetchRecorder } from '../support/fetch-recorder.js';
import { freePort } from '../support/free-port.js';
import { formWithAction, FormBrowser, type Page } from '../support/form-browser.js';
import { startLocalMetadataDocuments, type LocalMetadataDocuments } from '../support/local-metadata-documents.js';
import { assertIdentifiedByDocument, consentPage, permissionsListed, signInOnly, signInPage } from '../support/page-steps.js';
import { SdkV2OAuthClient, sdkV2ClientMetadata, type SdkV2Saved } from '../support/sdk-v2-oauth-client.js';
import { loopbackRedirect } from '../support/sdk-oauth-client.js';
import { ADMIN, restartServer, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { installedVersion } from '../support/third-party.js';
import { isUuidV4, isUuidV7 } from '../support/uuids.js';

/**
 * The official TypeScript SDK's v2 client (`@modelcontextprotocol/client`, installed under
 * test/third-party): its Streamable HTTP transport and its `auth()` flow, with an OAuthClientProvider
 * as an application writes one (test/support/sdk-v2-oauth-client.ts). What v2 does differently from
 * v1, and what the server must answer for it: it registers as `application_type: native`; it adds
 * `offline_access` to the scopes when the authorization server lists it, and then sends
 * `prompt=consent`; it refuses an authorization response without the right `iss` when the server
 * advertises RFC 9207. Only the person and the browser are simulated; every request the SDK sends
 * goes through the transport's `fetch` option, which records it.
 */

const PACKAGE = '@modelcontextprotocol/client';
const MCP_SCOPE = 'uuid:generate profile:read';

const uuidsOf = (result: CallToolResult) => (result.structuredContent as { uuids: string[] }).uuids;

/** What every step works on: the server as it is now (a restart replaces it), the recorder of the SDK's requests, the person's browser. */
interface SdkV2Bed {
  server: ServerProcess;
  recorder: FetchRecorder;
  /** Keeps the sign-in session between authorizations, as a real browser does. */
  browser: FormBrowser;
}

/** Call inside a describe: before its tests, the real server (with `env()`), a recorder and a browser for it; after them, the server gone. */
function sdkV2Bed(env: () => Record<string, string> = () => ({})): SdkV2Bed {
  const bed = {} as SdkV2Bed;
  before(async () => {
    bed.server = await startServerProcess({ env: env() });
    bed.recorder = recordingFetch(bed.server.url, (request) => request.url.pathname === '/register' || request.url.pathname === '/token');
    bed.browser = new FormBrowser(bed.server.url);
  });
  after(async () => {
    await bed.server?.stop();
    if (bed.server) fs.rmSync(bed.server.dataDir, { recursive: true, force: true });
  });
  return bed;
}

const transportFor = (bed: SdkV2Bed, provider: SdkV2OAuthClient) => new StreamableHTTPClientTransport(new URL(bed.server.mcpUrl), { authProvider: provider, fetch: bed.recorder.fetch });

/** The SDK's connect without a usable token: 401, then its auth flow ends in an authorization URL for the browser. */
async function startAuthorization(bed: SdkV2Bed, provider: SdkV2OAuthClient): Promise<URL> {
  provider.authorizationUrl = undefined;
  await assert.rejects(new Client({ name: 'sdk-v2-e2e', version: '1.0.0' }).connect(transportFor(bed, provider)), UnauthorizedError);
  assert.ok(provider.authorizationUrl, 'the SDK produced an authorization URL');
  return provider.authorizationUrl;
}

/** The person allows (or continues) on the consent page; returns where the browser is sent back to. */
async function allow(bed: SdkV2Bed, page: Page): Promise<URL> {
  const visit = await bed.browser.submit(page, formWithAction(page, '/confirm'));
  assert.equal(visit.kind, 'left', 'the browser leaves the server for the application');
  return (visit as { location: URL }).location;
}

/** Connects with the tokens the provider holds, calls the tools, and checks every MCP request carried `accessToken`. */
async function useTools(bed: SdkV2Bed, provider: SdkV2OAuthClient, accessToken: string): Promise<{ tools: string[]; v4: string; v7: string; username: string }> {
  bed.recorder.step();
  const client = new Client({ name: 'sdk-v2-e2e', version: '1.0.0' });
  await client.connect(transportFor(bed, provider));
  try {
    const listed = await client.listTools();
    const v4 = (await client.callTool({ name: 'generate_uuid', arguments: {} })) as CallToolResult;
    assert.notEqual(v4.isError, true, JSON.stringify(v4.content));
    const v7 = (await client.callTool({ name: 'generate_uuid', arguments: { version: 'v7' } })) as CallToolResult;
    const profile = (await client.callTool({ name: 'get_user_profile', arguments: {} })) as CallToolResult;
    assertMcpPostsCarried(bed.recorder.since(), accessToken, 5);
    return {
      tools: listed.tools.map((tool) => tool.name).sort(),
      v4: uuidsOf(v4)[0]!,
      v7: uuidsOf(v7)[0]!,
      username: (profile.structuredContent as { username: string }).username,
    };
  } finally {
    await client.close();
  }
}

describe(compatibilitySuite({ client: 'MCP TypeScript SDK (v2)', version: installedVersion(PACKAGE), transport: 'Streamable HTTP', registration: 'dynamic registration' }), () => {
  const bed = sdkV2Bed();
  let oauth: SdkV2OAuthClient;

  it('401 → discovery → registration as a native app → offline_access with prompt=consent → sign-in and consent → iss → tokens with a refresh token → tools', async () => {
    const redirect = loopbackRedirect(await freePort());
    oauth = new SdkV2OAuthClient(redirect, sdkV2ClientMetadata(redirect));
    bed.recorder.step();
    const authorizationUrl = await startAuthorization(bed, oauth);
    const discovery = bed.recorder.since();

    // Discovery: the 401 on POST /mcp names the protected resource metadata, which names the issuer.
    assert.equal(`${discovery[0]!.method} ${discovery[0]!.url.pathname}`, 'POST /mcp', 'the SDK starts with initialize');
    assert.equal(discovery[0]!.authorization, null);
    assert.equal(discovery[0]!.status, 401);
    assert.match(discovery[0]!.wwwAuthenticate ?? '', /^Bearer .*resource_metadata="http:\/\/localhost:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    assert.equal(requestsTo(discovery, 'GET', '/.well-known/oauth-protected-resource/mcp')[0]?.status, 200, 'the SDK read the protected resource metadata');
    assert.equal(requestsTo(discovery, 'GET', '/.well-known/oauth-authorization-server')[0]?.status, 200, 'the SDK read the authorization server metadata');
    const asMetadata = oauth.saved.discoveryState?.authorizationServerMetadata;
    assert.equal(asMetadata?.issuer, bed.server.url, 'the SDK kept the metadata it validated');
    assert.ok(asMetadata.scopes_supported?.includes('offline_access'), 'the server offers offline_access');
    assert.equal(asMetadata.authorization_response_iss_parameter_supported, true, 'the server advertises iss on authorization responses (RFC 9207)');

    // Registration: v2 derives application_type from the loopback redirect and registers the scope it will ask for.
    const registrations = requestsTo(discovery, 'POST', '/register');
    assert.equal(registrations.length, 1, 'registered exactly once');
    const sent = JSON.parse(registrations[0]!.body!) as Record<string, unknown>;
    assert.deepEqual(sent, { ...sdkV2ClientMetadata(redirect), application_type: 'native', scope: `${MCP_SCOPE} offline_access` }, 'the application\'s metadata, with the application_type and scope the SDK adds');
    assert.equal(registrations[0]!.status, 201, registrations[0]!.responseBody);
    const registered = JSON.parse(registrations[0]!.responseBody!) as { client_id: string; application_type: string; redirect_uris: string[]; scope: string; grant_types: string[] };
    assert.equal(registered.application_type, 'native');
    assert.deepEqual(registered.redirect_uris, [redirect]);
    assert.deepEqual(registered.grant_types, ['authorization_code', 'refresh_token']);
    assert.ok(registered.scope.split(' ').includes('offline_access'), `offline_access may be asked for: ${registered.scope}`);
    assert.equal(oauth.saved.clientInformation?.client_id, registered.client_id, 'the SDK saved the registration');

    // The authorization request: the PRM scopes plus offline_access, and so prompt=consent.
    assert.equal(`${authorizationUrl.origin}${authorizationUrl.pathname}`, `${bed.server.url}/auth`);
    assert.equal(authorizationUrl.searchParams.get('client_id'), registered.client_id);
    assert.equal(authorizationUrl.searchParams.get('redirect_uri'), redirect);
    assert.equal(authorizationUrl.searchParams.get('scope'), `${MCP_SCOPE} offline_access`);
    assert.equal(authorizationUrl.searchParams.get('prompt'), 'consent');
    assert.equal(authorizationUrl.searchParams.get('resource'), bed.server.mcpUrl);
    assert.equal(authorizationUrl.searchParams.get('code_challenge_method'), 'S256');

    // The person signs in and allows; the consent page lists what was asked, staying connected included.
    const consent = consentPage(await signInOnly(bed.browser, authorizationUrl, ADMIN), 'first authorization:');
    assert.match(consent.html, /<h1>Allow access\?<\/h1>/);
    assert.deepEqual(permissionsListed(consent), [MCP_SCOPES['uuid:generate'], MCP_SCOPES['profile:read'], OIDC_SCOPES.offline_access]);
    const callback = await allow(bed, consent);
    assert.equal(`${callback.origin}${callback.pathname}`, redirect);
    assert.equal(callback.searchParams.get('iss'), bed.server.url, 'RFC 9207 iss on the authorization response');
    assert.equal(callback.searchParams.get('state'), null, 'this application set no state');

    // The SDK reads code and iss from the callback itself, checks iss, and exchanges the code.
    bed.recorder.step();
    await transportFor(bed, oauth).finishAuth(callback.searchParams);
    assertOneCodeExchange(bed.recorder.since(), { clientId: registered.client_id, redirectUri: redirect, resource: bed.server.mcpUrl, codeChallenge: authorizationUrl.searchParams.get('code_challenge') });
    const tokens = oauth.saved.tokens!;
    assert.ok(tokens.access_token, 'an access token');
    assert.ok(tokens.refresh_token, 'a refresh token: offline_access was granted');
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    // offline_access bought the refresh token; the access token carries what /mcp checks (RFC 8707: scopes of that resource).
    assert.deepEqual(tokens.scope?.split(' ').sort(), ['profile:read', 'uuid:generate'], `the access token's scope: ${tokens.scope}`);
    assert.equal(tokens.issuer, bed.server.url, 'the SDK stamped the tokens with the issuer they came from');

    const used = await useTools(bed, oauth, tokens.access_token);
    assert.deepEqual(used.tools, ['generate_uuid', 'get_user_profile']);
    assert.ok(isUuidV4(used.v4), `v4 by default: ${used.v4}`);
    assert.ok(isUuidV7(used.v7), `v7 on request: ${used.v7}`);
    assert.equal(used.username, 'admin', 'the person who signed in');
  });

  it('refresh: the SDK exchanges the refresh token; rotation hands out a new one, and it works', async () => {
    const before = oauth.saved.tokens!;
    bed.recorder.step();
    assert.equal(await auth(oauth, { serverUrl: bed.server.mcpUrl, fetchFn: bed.recorder.fetch }), 'AUTHORIZED');
    const sent = assertOneRefresh(bed.recorder.since(), { refreshToken: before.refresh_token!, clientId: oauth.saved.clientInformation!.client_id, resource: bed.server.mcpUrl });
    assert.equal(sent.get('scope'), null, 'no scope: the grant as it was (RFC 6749 §6)');

    const refreshed = oauth.saved.tokens!;
    assert.notEqual(refreshed.access_token, before.access_token);
    assert.ok(refreshed.refresh_token, 'a new refresh token');
    assert.notEqual(refreshed.refresh_token, before.refresh_token, 'refresh tokens rotate');
    assert.ok(isUuidV4((await useTools(bed, oauth, refreshed.access_token)).v4));
  });

  it('the same app on another loopback port: prompt=consent shows the consent page though consent is remembered; the SDK refuses a response without the right iss and accepts the real one', async () => {
    const redirect = loopbackRedirect(await freePort());
    // A new run that kept its registration and discovery but not its tokens (the person signed out of the app, say).
    const again = new SdkV2OAuthClient(redirect, sdkV2ClientMetadata(redirect), { clientInformation: oauth.saved.clientInformation, discoveryState: oauth.saved.discoveryState });
    bed.recorder.step();
    const authorizationUrl = await startAuthorization(bed, again);
    assert.equal(requestsTo(bed.recorder.since(), 'POST', '/register').length, 0, 'no new registration');
    assert.equal(authorizationUrl.searchParams.get('redirect_uri'), redirect);
    assert.equal(authorizationUrl.searchParams.get('prompt'), 'consent');

    // The browser is still signed in and consent is remembered: prompt=consent still gets a page, which only asks to continue.
    const visit = await bed.browser.open(authorizationUrl);
    const page = consentPage(visit, 'prompt=consent with remembered consent:');
    assert.doesNotMatch(page.html, /name="password"/, 'no second sign-in');
    assert.match(page.html, /<h1>Continue\?<\/h1>/, 'remembered consent: only asked to continue');
    const callback = await allow(bed, page);
    assert.equal(`${callback.origin}${callback.pathname}`, redirect, 'loopback redirect matched on another port (RFC 8252 §7.3)');
    assert.equal(callback.searchParams.get('iss'), bed.server.url);

    // RFC 9207 as the SDK enforces it: a response without iss, or from another issuer, is refused before the code is used.
    bed.recorder.step();
    for (const iss of [undefined, bed.server.url.replace('localhost', '127.0.0.1')]) {
      const forged = new URLSearchParams(callback.searchParams);
      if (iss === undefined) forged.delete('iss');
      else forged.set('iss', iss);
      await assert.rejects(transportFor(bed, again).finishAuth(forged), IssuerMismatchError, `iss ${iss ?? 'missing'} is refused`);
    }
    assert.equal(requestsTo(bed.recorder.since(), 'POST', '/token').length, 0, 'the code was never sent');

    await transportFor(bed, again).finishAuth(callback.searchParams);
    assert.equal(requestsTo(bed.recorder.since(), 'POST', '/token')[0]?.status, 200, 'the real response is accepted and its code exchanged');
    assert.ok(again.saved.tokens?.refresh_token);
    assert.ok(isUuidV4((await useTools(bed, again, again.saved.tokens!.access_token)).v4));
  });

  it('after the server restarts on the same data: the app\'s saved tokens keep working without a new sign-in, and its refresh token still refreshes', async () => {
    // What the application saved, as it would read it back from disk in its next run.
    const saved = JSON.parse(JSON.stringify(oauth.saved)) as SdkV2Saved;
    const stored = saved.tokens!;
    bed.server = await restartServer(bed.server);

    const nextRun = new SdkV2OAuthClient(oauth.redirectUrl, oauth.clientMetadata, saved);
    const used = await useTools(bed, nextRun, stored.access_token);
    assert.ok(isUuidV4(used.v4), used.v4);
    assert.ok(isUuidV7(used.v7), used.v7);
    assert.equal(nextRun.authorizationUrl, undefined, 'no sign-in was started');
    assert.deepEqual(bed.recorder.since().filter((request) => request.url.pathname !== '/mcp').map((request) => `${request.method} ${request.url.pathname}`), [], 'no discovery, registration or token request');
    assert.equal(nextRun.saved.tokens?.access_token, stored.access_token);

    bed.recorder.step();
    assert.equal(await auth(nextRun, { serverUrl: bed.server.mcpUrl, fetchFn: bed.recorder.fetch }), 'AUTHORIZED');
    assertOneRefresh(bed.recorder.since(), { refreshToken: stored.refresh_token!, clientId: saved.clientInformation!.client_id, resource: bed.server.mcpUrl });
    assert.notEqual(nextRun.saved.tokens!.access_token, stored.access_token);
    assert.ok(isUuidV4((await useTools(bed, nextRun, nextRun.saved.tokens!.access_token)).v4));
  });
});

/**
 * The same client with a Client ID Metadata Document (OAuthClientProvider.clientMetadataUrl):
 * instead of registering, the SDK uses the document's URL as its client_id, and the server
 * fetches the document (served here over https from this machine). The path is the one above;
 * what it shares with dynamic registration on the wire is checked there.
 */
describe(compatibilitySuite({ client: 'MCP TypeScript SDK (v2)', version: installedVersion(PACKAGE), transport: 'Streamable HTTP', registration: 'Client ID Metadata Document' }), () => {
  const path = '/sdk-v2-client-metadata.json';
  let local: LocalMetadataDocuments;
  let documentUrl: string;
  let oauth: SdkV2OAuthClient;
  before(async () => {
    local = await startLocalMetadataDocuments();
    documentUrl = local.publishNative(path, 'SDK v2 metadata-document client');
  });
  after(() => local?.close());
  const bed = sdkV2Bed(() => local.serverEnv);

  /** An application's provider with the document URL set. */
  const provider = (redirect: string, saved?: SdkV2Saved) => {
    const made = new SdkV2OAuthClient(redirect, sdkV2ClientMetadata(redirect), saved);
    made.clientMetadataUrl = documentUrl;
    return made;
  };

  it('no registration: the document URL as client_id; sign-in and consent naming the document\'s host; the code exchanged by that client; tools', async () => {
    const redirect = loopbackRedirect(await freePort());
    oauth = provider(redirect);
    bed.recorder.step();
    const authorizationUrl = await startAuthorization(bed, oauth);
    assert.deepEqual(requestsTo(bed.recorder.since(), 'POST', '/register'), [], 'no dynamic registration');
    assert.equal(oauth.saved.clientInformation?.client_id, documentUrl, 'the SDK keeps the document URL as its client');
    assert.equal(authorizationUrl.searchParams.get('client_id'), documentUrl);
    assert.equal(authorizationUrl.searchParams.get('redirect_uri'), redirect);

    const signIn = signInPage(await bed.browser.open(authorizationUrl));
    assertIdentifiedByDocument(signIn, 'SDK v2 metadata-document client', documentUrl);
    const consent = consentPage(await bed.browser.submit(signIn, formWithAction(signIn, '/login'), { username: ADMIN.username, password: ADMIN.password }));
    assertIdentifiedByDocument(consent, 'SDK v2 metadata-document client', documentUrl);
    const callback = await allow(bed, consent);
    assert.ok(local.documents.hits(path) >= 1, 'the server fetched the document');

    bed.recorder.step();
    await transportFor(bed, oauth).finishAuth(callback.searchParams);
    assertOneCodeExchange(bed.recorder.since(), { clientId: documentUrl, redirectUri: redirect, resource: bed.server.mcpUrl, codeChallenge: authorizationUrl.searchParams.get('code_challenge') });
    const tokens = oauth.saved.tokens!;
    assert.ok(tokens.refresh_token, 'a refresh token');
    const used = await useTools(bed, oauth, tokens.access_token);
    assert.ok(isUuidV4(used.v4), used.v4);
    assert.equal(used.username, 'admin');
  });

  it('refresh by the document URL client; the rotated tokens work', async () => {
    const before = oauth.saved.tokens!;
    bed.recorder.step();
    assert.equal(await auth(oauth, { serverUrl: bed.server.mcpUrl, fetchFn: bed.recorder.fetch }), 'AUTHORIZED');
    assertOneRefresh(bed.recorder.since(), { refreshToken: before.refresh_token!, clientId: documentUrl, resource: bed.server.mcpUrl });
    assert.notEqual(oauth.saved.tokens!.refresh_token, before.refresh_token, 'refresh tokens rotate');
    assert.ok(isUuidV4((await useTools(bed, oauth, oauth.saved.tokens!.access_token)).v4));
  });

  it('after the server restarts: the saved tokens keep working, and a refresh makes the restarted server fetch the document again', async () => {
    const saved = JSON.parse(JSON.stringify(oauth.saved)) as SdkV2Saved;
    const stored = saved.tokens!;
    bed.server = await restartServer(bed.server, { env: local.serverEnv });

    const nextRun = provider(oauth.redirectUrl, saved);
    assert.ok(isUuidV7((await useTools(bed, nextRun, stored.access_token)).v7));
    assert.equal(nextRun.authorizationUrl, undefined, 'no sign-in was started');

    const fetchedBefore = local.documents.hits(path);
    bed.recorder.step();
    assert.equal(await auth(nextRun, { serverUrl: bed.server.mcpUrl, fetchFn: bed.recorder.fetch }), 'AUTHORIZED');
    assertOneRefresh(bed.recorder.since(), { refreshToken: stored.refresh_token!, clientId: documentUrl, resource: bed.server.mcpUrl });
    assert.equal(local.documents.hits(path), fetchedBefore + 1, 'the restarted server fetched the document once to know the client');
    assert.ok(isUuidV4((await useTools(bed, nextRun, nextRun.saved.tokens!.access_token)).v4));
  });
});
