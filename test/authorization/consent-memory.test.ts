import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { ConsentMemory } from '../../src/authorization/consent.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import type { Store } from '../../src/storage/store.js';
import { visibleText } from '../support/forms.js';
import { freePort } from '../support/free-port.js';
import { formWithAction, FormBrowser, type Page } from '../support/form-browser.js';
import { codeFrom, consentPage, isConsentPage, permissionsListed, signInOnly, signInPage } from '../support/page-steps.js';
import { type Person } from '../support/person-at-browser.js';
import { RawOAuthClient, request, tokensOf, type ServerLike } from '../support/raw-oauth.js';
import { ADMIN, addUser, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import { sleep } from '../support/time-limit.js';
import { introspect } from '../support/token-checks.js';

const BOB: Person = { username: 'bob', password: 'bob-test-password-42' };
/** A redirect URI on the web: the browser stops at the redirect that leaves the server, so it never needs to resolve. */
const WEB_REDIRECT = 'https://app.example/cb';

/** A web client (https redirect URI, so application_type "web"), approved once by `person` in `browser` (signing in if asked). */
async function approvedWebClient(server: ServerLike, browser: FormBrowser, person: Person = ADMIN): Promise<RawOAuthClient> {
  const client = await RawOAuthClient.register(server, [WEB_REDIRECT]);
  assert.equal(client.registration.application_type, 'web');
  const authRequest = client.authorizationRequest();
  let visit = await browser.open(authRequest.url);
  if (!isConsentPage(visit)) {
    const login = signInPage(visit);
    visit = await browser.submit(login, formWithAction(login, '/login'), { username: person.username, password: person.password });
  }
  const consent = consentPage(visit, 'first authorization');
  const done = await browser.submit(consent, formWithAction(consent, '/confirm'));
  codeFrom(done, WEB_REDIRECT, authRequest.state);
  return client;
}

/** Title of a page as a person reads it (its h1). */
function heading(page: Page): string {
  return visibleText(/<h1>([\s\S]*?)<\/h1>/.exec(page.html)?.[1] ?? '');
}

describe('remembered consent (default settings)', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
    addUser(server.dataDir, BOB);
  });
  after(async () => {
    await server?.stop();
  });

  it('a web client approved once is authorized again in the same browser with no page at all: straight back with a working code', async () => {
    const browser = new FormBrowser(server.url);
    const client = await approvedWebClient(server, browser);
    const again = client.authorizationRequest();
    const code = codeFrom(await browser.open(again.url), WEB_REDIRECT, again.state);
    tokensOf(await client.exchange(code, again.verifier));
  });

  it('a web client approved once is authorized in a new browser after signing in, with no consent page', async () => {
    const client = await approvedWebClient(server, new FormBrowser(server.url));
    const again = client.authorizationRequest();
    const code = codeFrom(await signInOnly(new FormBrowser(server.url), again.url, ADMIN), WEB_REDIRECT, again.state);
    tokensOf(await client.exchange(code, again.verifier));
  });

  it('consent is remembered per account: bob authorizing a web client admin approved is shown the consent page, naming bob', async () => {
    const client = await approvedWebClient(server, new FormBrowser(server.url));
    const consent = consentPage(await signInOnly(new FormBrowser(server.url), client.authorizationRequest().url, BOB), 'bob');
    assert.equal(heading(consent), 'Allow access?');
    const text = visibleText(consent.html);
    assert.match(text, /wants to act as bob on this server/);
    assert.doesNotMatch(text, /admin/i);
  });

  it('a client registered as application_type "web" with a loopback redirect URI is asked on every authorization, even with a browser session and remembered consent', async () => {
    const redirectUri = `http://127.0.0.1:${await freePort()}/cb`;
    const client = await RawOAuthClient.register(server, [redirectUri], { application_type: 'web' });
    assert.equal(client.registration.application_type, 'web', 'registered as a web client, not turned into a native one');
    const browser = new FormBrowser(server.url);

    const first = client.authorizationRequest();
    const consent = consentPage(await signInOnly(browser, first.url, ADMIN), 'first authorization');
    assert.equal(heading(consent), 'Allow access?');
    codeFrom(await browser.submit(consent, formWithAction(consent, '/confirm')), redirectUri, first.state);

    // Same browser, signed in, everything approved before: still a page, which only asks to continue.
    const second = client.authorizationRequest();
    const confirm = consentPage(await browser.open(second.url), 'same browser');
    assert.equal(heading(confirm), 'Continue?');
    assert.match(visibleText(confirm.html), /You allowed this application before/);
    const code = codeFrom(await browser.submit(confirm, formWithAction(confirm, '/confirm')), redirectUri, second.state);
    tokensOf(await client.exchange(code, second.verifier));

    // A new browser: sign-in, then the same confirmation (consent is remembered, the prompt is not skipped).
    const third = client.authorizationRequest();
    assert.equal(heading(consentPage(await signInOnly(new FormBrowser(server.url), third.url, ADMIN), 'new browser')), 'Continue?');
  });

  it('prompt=none for a client with a loopback redirect URI is answered with error=interaction_required and no code, even right after the user approved it', async () => {
    const redirectUri = `http://127.0.0.1:${await freePort()}/cb`;
    const client = await RawOAuthClient.register(server, [redirectUri], { application_type: 'web' });
    const browser = new FormBrowser(server.url);
    await client.authorize(browser, ADMIN);

    const silent = client.authorizationRequest({ extra: { prompt: 'none' } });
    const visit = await browser.open(silent.url);
    assert.equal(visit.kind, 'left', 'prompt=none never shows a page');
    const location = (visit as { location: URL }).location;
    assert.equal(`${location.origin}${location.pathname}`, redirectUri);
    assert.equal(location.searchParams.get('code'), null, `no code: ${location.href}`);
    assert.equal(location.searchParams.get('error'), 'interaction_required', location.href);
    assert.equal(location.searchParams.get('state'), silent.state);
    assert.equal(location.searchParams.get('iss'), server.url);

    // The contrast: a web client approved in this browser does get a code for prompt=none.
    const web = await approvedWebClient(server, browser);
    const webSilent = web.authorizationRequest({ extra: { prompt: 'none' } });
    codeFrom(await browser.open(webSilent.url), WEB_REDIRECT, webSilent.state);
  });

  it('the openid scope is described on the consent page as "Know who you are: your user id, name and username"', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const consent = consentPage(await signInOnly(new FormBrowser(server.url), client.authorizationRequest({ scope: 'openid uuid:generate' }).url, ADMIN));
    const listed = permissionsListed(consent);
    assert.ok(listed.includes('Know who you are: your user id, name and username'), `listed: ${JSON.stringify(listed)}`);
    assert.ok(listed.includes('Generate UUIDs for you'), `listed: ${JSON.stringify(listed)}`);
    assert.ok(!listed.some((item) => item.startsWith('See your profile')), `profile:read was not requested: ${JSON.stringify(listed)}`);
  });

  it('a client registered with scope "uuid:generate" that asks for no scope gets a token for uuid:generate only (its registered scope is the ceiling)', async () => {
    const client = await RawOAuthClient.registerLoopback(server, { scope: 'uuid:generate' });
    const authRequest = client.authorizationRequest();
    assert.equal(authRequest.url.searchParams.get('scope'), null, 'no scope parameter');
    const tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
    assert.equal(tokens.scope, 'uuid:generate', `token response scope: ${tokens.scope}`);
    const info = await introspect(server, client.clientId, tokens.access_token);
    assert.equal(info.json?.active, true, info.text);
    assert.equal(info.json?.scope, 'uuid:generate', info.text);
  });

  it('a client registered with scope "uuid:generate" asking explicitly for profile:read is sent back with error=invalid_scope and no code', async () => {
    const redirectUri = `http://127.0.0.1:${await freePort()}/cb`;
    const client = await RawOAuthClient.register(server, [redirectUri], { scope: 'uuid:generate' });
    for (const scope of ['profile:read', 'uuid:generate profile:read']) {
      const authRequest = client.authorizationRequest({ scope });
      const answer = await request(authRequest.url);
      assert.ok(answer.status === 302 || answer.status === 303, `${scope}: a redirect back to the client, got ${answer.status}`);
      const location = new URL(answer.headers.get('location') ?? 'missing:');
      assert.equal(`${location.origin}${location.pathname}`, redirectUri);
      assert.equal(location.searchParams.get('error'), 'invalid_scope', `${scope}: ${location.href}`);
      assert.equal(location.searchParams.get('code'), null);
      assert.equal(location.searchParams.get('state'), authRequest.state);
    }
  });
});

/** The smallest stand-in for oidc-provider's Grant that ConsentMemory builds. */
class FakeGrant {
  static saved: FakeGrant[] = [];
  readonly oidcScopes: string[] = [];
  readonly resourceScopes: Record<string, string[]> = {};
  constructor(readonly init: { accountId: string; clientId: string }) {}
  get accountId() {
    return this.init.accountId;
  }
  get clientId() {
    return this.init.clientId;
  }
  addOIDCScope(scope: string) {
    this.oidcScopes.push(...scope.split(' '));
  }
  addResourceScope(resource: string, scope: string) {
    (this.resourceScopes[resource] ??= []).push(...scope.split(' '));
  }
  async save() {
    FakeGrant.saved.push(this);
    return `grant-${FakeGrant.saved.length}`;
  }
}

/** A client oidc-provider built from a metadata document, as ConsentMemory sees it: its id, the flag, its metadata. */
function documentClient(clientId: string, metadata: Record<string, unknown>) {
  const client = { clientId, metadata: () => ({ client_id: clientId, ...metadata }) };
  return Object.defineProperty(client, 'clientIdMetadataDocument', { value: true });
}

/** What loadExistingGrant reads of oidc-provider's context: the client, a session with no grant of its own, the Grant class. */
function fakeContext(accountId: string, client: string | { clientId: string }): KoaContextWithOIDC {
  return {
    oidc: {
      client: typeof client === 'string' ? { clientId: client } : client,
      session: { accountId, grantIdFor: () => undefined },
      provider: { Grant: FakeGrant },
    },
  } as unknown as KoaContextWithOIDC;
}

describe('ConsentMemory: remembered consent expires', () => {
  const RESOURCE = 'http://localhost:8080/mcp';
  const LEGACY_RESOURCE = 'http://localhost:8080/sse';
  const LIFETIME_MS = 400;
  let dir: string;
  let store: Store;
  before(() => {
    dir = tempDir('consent-memory');
    store = createSqliteStore(dir);
  });
  after(async () => {
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rebuilds a grant from a consent saved just now, with the remembered scopes for the authorization server and each MCP resource', async () => {
    const memory = new ConsentMemory(store.consents, [RESOURCE, LEGACY_RESOURCE], LIFETIME_MS);
    await store.consents.save({ accountId: 'alice', clientId: 'app-1', scopes: ['openid', 'uuid:generate'], grantedAt: Date.now() });
    const grant = (await memory.loadExistingGrant(fakeContext('alice', 'app-1'))) as unknown as FakeGrant | undefined;
    assert.ok(grant instanceof FakeGrant, 'a grant rebuilt from the remembered consent');
    assert.deepEqual(grant.init, { accountId: 'alice', clientId: 'app-1' });
    assert.deepEqual(grant.oidcScopes.sort(), ['openid', 'uuid:generate']);
    assert.deepEqual(grant.resourceScopes, { [RESOURCE]: ['uuid:generate'], [LEGACY_RESOURCE]: ['uuid:generate'] }, 'one approval covers /mcp and the legacy /sse');
    assert.ok(FakeGrant.saved.includes(grant), 'the grant was saved');
    assert.equal(await memory.loadExistingGrant(fakeContext('alice', 'another-app')), undefined, 'another client has no consent');
    assert.equal(await memory.loadExistingGrant(fakeContext('bob', 'app-1')), undefined, 'another account has no consent');
  });

  it('confirming a saved grant that already holds everything asked writes neither the grant nor the consent again (a re-authorization); something new writes both', async () => {
    let consentSaves = 0;
    const consents = { ...store.consents, save: async (consent: Parameters<Store['consents']['save']>[0]) => { consentSaves += 1; await store.consents.save(consent); } };
    const memory = new ConsentMemory(consents, [RESOURCE], 60_000);
    /** oidc-provider's Grant as far as approving goes: its scopes in `openid` and `resources`, and an id once saved. */
    class SavedGrant {
      jti: string | undefined;
      openid: { scope?: string } | undefined;
      resources: Record<string, string> | undefined;
      saves = 0;
      constructor(readonly accountId: string, readonly clientId: string) {}
      addOIDCScope(scope: string) {
        this.openid = { scope: [...new Set([...(this.openid?.scope?.split(' ') ?? []), ...scope.split(' ')])].join(' ') };
      }
      addResourceScope(resource: string, scope: string) {
        this.resources = { ...this.resources, [resource]: [...new Set([...(this.resources?.[resource]?.split(' ') ?? []), ...scope.split(' ')])].join(' ') };
      }
      async save() {
        this.saves += 1;
        this.jti ??= 'grant-frank';
        return this.jti;
      }
    }
    const first = new SavedGrant('frank', 'app-3');
    assert.equal(await memory.approve(first as never, { missingOIDCScope: ['openid'], missingResourceScopes: { [RESOURCE]: ['uuid:generate'] } }, { clientId: 'app-3' } as never), 'grant-frank');
    assert.equal(first.saves, 1);
    assert.equal(consentSaves, 1);

    const again = new SavedGrant('frank', 'app-3');
    again.jti = 'grant-rebuilt';
    again.addOIDCScope('openid uuid:generate');
    again.addResourceScope(RESOURCE, 'uuid:generate');
    assert.equal(await memory.approve(again as never, {}, { clientId: 'app-3' } as never), 'grant-rebuilt', 'the saved grant\'s id');
    assert.equal(again.saves, 0, 'the grant is not written again');
    assert.equal(consentSaves, 1, 'nor is the consent');

    assert.equal(await memory.approve(again as never, { missingOIDCScope: ['profile:read'], missingResourceScopes: { [RESOURCE]: ['profile:read'] } }, { clientId: 'app-3' } as never), 'grant-rebuilt');
    assert.equal(again.saves, 1, 'a grant that gained a scope is written');
    assert.equal(consentSaves, 2, 'and so is the consent');
    assert.deepEqual((await store.consents.find('frank', 'app-3'))?.scopes.sort(), ['openid', 'profile:read', 'uuid:generate']);
  });

  it('after its lifetime a remembered consent gives no grant, though the record is still stored', async () => {
    const memory = new ConsentMemory(store.consents, [RESOURCE], LIFETIME_MS);
    await store.consents.save({ accountId: 'carol', clientId: 'app-2', scopes: ['uuid:generate', 'profile:read'], grantedAt: Date.now() });
    assert.ok(await memory.loadExistingGrant(fakeContext('carol', 'app-2')), 'in force right after it was given');
    await sleep(LIFETIME_MS + 100);
    assert.ok(await store.consents.find('carol', 'app-2'), 'the record is still there: it is its age that counts');
    assert.equal(await memory.loadExistingGrant(fakeContext('carol', 'app-2')), undefined, 'expired: the user is asked again');
  });

  it('for a client described by a metadata document, consent holds for the document approved: a new redirect URI or name voids it and is named, a new order does not', async () => {
    const memory = new ConsentMemory(store.consents, [RESOURCE], 60_000);
    const url = 'https://app.example/client.json';
    const approved = { client_name: 'App', redirect_uris: ['https://app.example/cb', 'https://app.example/cb2'], application_type: 'web', grant_types: ['authorization_code'] };
    await memory.approve(new FakeGrant({ accountId: 'dave', clientId: url }) as never, { missingOIDCScope: ['openid', 'uuid:generate'] }, documentClient(url, approved));
    assert.ok(await memory.loadExistingGrant(fakeContext('dave', documentClient(url, approved))), 'in force for the same document');
    const reordered = documentClient(url, { ...approved, redirect_uris: [...approved.redirect_uris].reverse() });
    assert.ok(await memory.loadExistingGrant(fakeContext('dave', reordered)), 'the order of a list does not count');
    assert.deepEqual(await memory.changedSinceApproval('dave', reordered), []);
    const takenOver = documentClient(url, { ...approved, client_name: 'App 2', redirect_uris: [...approved.redirect_uris, 'https://evil.example/cb'] });
    assert.equal(await memory.loadExistingGrant(fakeContext('dave', takenOver)), undefined, 'a changed document is asked again');
    assert.deepEqual(await memory.changedSinceApproval('dave', takenOver), [
      { field: 'client_name', approved: 'App', now: 'App 2' },
      { field: 'redirect_uris', approved: ['https://app.example/cb', 'https://app.example/cb2'], now: ['https://app.example/cb', 'https://app.example/cb2', 'https://evil.example/cb'] },
    ], 'what each changed field was and is');
    assert.deepEqual((await store.consents.find('dave', url))?.clientFingerprint, { client_name: 'App', redirect_uris: ['https://app.example/cb', 'https://app.example/cb2'], application_type: 'web', grant_types: ['authorization_code'] }, 'the document\'s public values are stored as they are (lists sorted)');
    // A consent stored before documents had fingerprints is not trusted for a document client.
    await store.consents.save({ accountId: 'erin', clientId: url, scopes: ['openid'], grantedAt: Date.now() });
    assert.equal(await memory.loadExistingGrant(fakeContext('erin', documentClient(url, approved))), undefined);
  });
});
