import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { compatibilitySuite } from '../support/compatibility.js';
import { assertMcpPostsCarriedToken } from '../support/fetch-recorder.js';
import { recordPageTraffic, type PageRequest, type PageTraffic } from '../support/page-traffic.js';
import { escapeRegExp } from '../support/reg-exp.js';
import { ADMIN, restartServer, ROOT, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { serveStaticSite, type StaticSite } from '../support/static-site.js';
import { isUuidV4 } from '../support/uuids.js';

/**
 * A web page as a client: test/clients/browser-client is a small static app whose own script does
 * everything with fetch (discovery from the 401, registration, PKCE, the code exchange, refresh, MCP
 * over Streamable HTTP), served by the test from another origin (127.0.0.1, a loopback origin, which
 * a server on this machine accepts) and run in real Chromium. The test plays the person in that same
 * browser tab: it clicks the page's buttons and fills in the server's real sign-in and consent forms.
 * What the page sent and the server answered is read from the browser itself (CORS preflights
 * included, from the DevTools protocol).
 */

const SITE = path.join(ROOT, 'test', 'clients', 'browser-client');
const SCREENSHOTS = path.join(ROOT, 'test-output', 'screenshots');
const STEP_TIMEOUT = 15_000;
/** A host name that is not loopback to the server, though Chromium resolves it to this machine. */
const OTHER_HOST = 'elsewhere.test';

const browser = await launchChromium({ hosts: { [OTHER_HOST]: '127.0.0.1' } });

interface StoredTokens {
  access_token: string;
  refresh_token: string;
}

describe(compatibilitySuite({ client: 'Web page in Chromium (sample client)', version: browser.version(), transport: 'Streamable HTTP (fetch)', registration: 'dynamic registration' }), () => {
  let server: ServerProcess;
  let site: StaticSite;
  let context: BrowserContext;
  let page: Page;
  let traffic: PageTraffic;
  let pageOrigin: string;
  const consoleErrors: string[] = [];
  /** Which requests in `traffic` belong to the current step. */
  let mark = { requests: 0, preflights: 0 };
  const step = () => {
    mark = { requests: traffic.requests.length, preflights: traffic.preflights.length };
  };
  const since = async () => {
    await traffic.settled();
    return { requests: traffic.requests.slice(mark.requests), preflights: traffic.preflights.slice(mark.preflights) };
  };
  const fetches = (requests: PageRequest[], method: string, pathname: string) => requests.filter((request) => !request.navigation && request.method === method && request.url.pathname === pathname);

  async function newPage(into: BrowserContext): Promise<Page> {
    const opened = await into.newPage();
    opened.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(`${opened.url()}: ${message.text()}`);
    });
    opened.on('pageerror', (error) => consoleErrors.push(`${opened.url()}: ${error.message}`));
    return opened;
  }

  /** The page finished what it was doing: `data-state` on its <body> is `state` (and not "busy"). */
  async function settledAs(on: Page, state: 'connected' | 'signed-out' | 'error'): Promise<void> {
    const body = on.locator('body');
    await on.locator('body:not([data-state="loading"]):not([data-state="busy"])').waitFor({ timeout: STEP_TIMEOUT });
    assert.equal(await body.getAttribute('data-state'), state, `page state; its error line says: ${await on.locator('#error').innerText()}`);
  }

  const text = (on: Page, id: string) => on.locator(`#${id}`).innerText();

  /** The person clicks "Generate UUID"; the UUID the page then shows. */
  async function generateUuidOn(on: Page): Promise<string> {
    await on.getByRole('button', { name: 'Generate UUID' }).click();
    await settledAs(on, 'connected');
    return text(on, 'uuid');
  }
  const storedTokens = async (on: Page) => JSON.parse((await on.evaluate<string | null>('localStorage.getItem("tokens")')) ?? 'null') as StoredTokens | null;

  async function screenshot(on: Page, name: string): Promise<void> {
    const file = path.join(SCREENSHOTS, name);
    await on.screenshot({ path: file, fullPage: true });
    console.log(`screenshot: ${file}`);
  }

  /** Every /mcp fetch of the step carried `accessToken`, came from the page's origin, and was accepted. */
  function assertMcpCallsUsed(requests: PageRequest[], accessToken: string, atLeast: number): void {
    const posts = fetches(requests, 'POST', '/mcp');
    // The access token from localStorage, on every request.
    assertMcpPostsCarriedToken(posts.map((request) => ({ authorization: request.headers.authorization, status: request.status })), accessToken, atLeast);
    for (const request of posts) {
      assert.equal(request.headers.origin, pageOrigin);
      assert.equal(request.responseHeaders?.['access-control-allow-origin'], '*', 'readable by the page');
    }
  }

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    server = await startServerProcess();
    site = await serveStaticSite(SITE);
    pageOrigin = `http://127.0.0.1:${site.port}`;
    context = await browser.newContext({ viewport: { width: 1024, height: 768 }, colorScheme: 'light', locale: 'en-US' });
    context.setDefaultTimeout(STEP_TIMEOUT);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT);
    page = await newPage(context);
    traffic = await recordPageTraffic(page, server.url);
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    await browser.close().catch(() => undefined);
    await site?.close();
    await server?.stop();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  it('discovery from the 401, registration, PKCE; the person signs in and allows; the page exchanges the code and calls tools/list and generate_uuid', { timeout: 120_000 }, async () => {
    await page.goto(`${pageOrigin}/?mcp=${encodeURIComponent(server.mcpUrl)}`);
    await settledAs(page, 'signed-out');
    assert.equal(await text(page, 'server'), server.mcpUrl);
    await screenshot(page, 'browser-client-start.png');

    // The person clicks Connect: the page's script discovers, registers and sends the browser to sign in.
    step();
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.waitForURL((url) => url.origin === server.url && url.pathname.startsWith('/interaction/'));
    const discovery = await since();

    // The unauthenticated probe: its preflight is answered without a token, the POST with 401 and a challenge the page can read.
    const probe = fetches(discovery.requests, 'POST', '/mcp');
    assert.equal(probe.length, 1);
    assert.equal(probe[0]!.headers.authorization, undefined);
    assert.equal(probe[0]!.headers.origin, pageOrigin, 'a cross-origin request');
    assert.equal(probe[0]!.status, 401);
    assert.match(probe[0]!.responseHeaders?.['access-control-expose-headers'] ?? '', /WWW-Authenticate/i, 'the page may read the challenge');
    const mcpPreflight = discovery.preflights.filter((preflight) => preflight.url.pathname === '/mcp');
    assert.equal(mcpPreflight.length, 1, 'Chromium asked before the POST (its content-type is not a simple one)');
    assert.equal(mcpPreflight[0]!.status, 204, 'the preflight needs no token');
    assert.equal(mcpPreflight[0]!.headers.authorization, undefined);
    assert.equal(mcpPreflight[0]!.headers.origin, pageOrigin);

    // Metadata documents: plain cross-origin GETs.
    for (const document of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-authorization-server']) {
      const read = fetches(discovery.requests, 'GET', document);
      assert.equal(read.length, 1, `the page read ${document}`);
      assert.equal(read[0]!.status, 200);
      assert.ok(['*', pageOrigin].includes(read[0]!.responseHeaders?.['access-control-allow-origin'] ?? ''), `readable by the page: ${JSON.stringify(read[0]!.responseHeaders)}`);
    }

    // Registration from the page: preflighted (JSON), allowed for a loopback origin.
    const registrations = fetches(discovery.requests, 'POST', '/register');
    assert.equal(registrations.length, 1);
    assert.equal(registrations[0]!.status, 201);
    assert.equal(registrations[0]!.headers.origin, pageOrigin);
    assert.equal(discovery.preflights.find((preflight) => preflight.url.pathname === '/register')?.status, 204);
    // The authorization request the page built.
    const authorize = discovery.requests.find((request) => request.navigation && request.url.pathname === '/auth');
    assert.ok(authorize, 'the page sent the browser to the authorization endpoint');
    const params = authorize.url.searchParams;
    const clientId = params.get('client_id');
    assert.ok(clientId, 'the client id the registration returned');
    assert.equal(params.get('redirect_uri'), `${pageOrigin}/callback`);
    assert.equal(params.get('code_challenge_method'), 'S256');
    assert.match(params.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(params.get('resource'), server.mcpUrl);
    assert.equal(params.get('scope'), 'uuid:generate profile:read');

    // The person signs in on the server's page and allows, in the same tab.
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await screenshot(page, 'browser-client-sign-in.png');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    assert.equal(await page.locator('.client-name').innerText(), 'UUID web client');
    assert.match(await page.locator('.redirect').innerText(), new RegExp(`127\\.0\\.0\\.1:${site.port} \\(an app on this computer\\)`));
    await screenshot(page, 'browser-client-consent.png');
    step();
    await page.getByRole('button', { name: 'Allow' }).click();

    // Back at the page's /callback: it checks state and iss, exchanges the code, and connects.
    await page.waitForURL(`${pageOrigin}/`);
    await settledAs(page, 'connected');
    const back = await since();
    const callback = back.requests.find((request) => request.navigation && request.responseHeaders?.location?.startsWith(`${pageOrigin}/callback?`));
    assert.ok(callback, 'the server sent the browser back to the page\'s callback');
    const answer = new URL(callback.responseHeaders!.location!);
    assert.equal(answer.searchParams.get('iss'), server.url, 'RFC 9207 iss, which the page checks');
    assert.equal(answer.searchParams.get('state'), params.get('state'));
    assert.ok(site.requested.includes('/callback'), 'the browser loaded the page\'s callback');

    const exchanges = fetches(back.requests, 'POST', '/token');
    assert.equal(exchanges.length, 1);
    assert.equal(exchanges[0]!.status, 200);
    assert.equal(exchanges[0]!.headers.origin, pageOrigin);
    assert.equal(exchanges[0]!.responseHeaders?.['access-control-allow-origin'], pageOrigin, 'CORS on /token for the origin of the client\'s redirect URI');
    const client = JSON.parse((await page.evaluate<string | null>('localStorage.getItem("client")')) ?? 'null') as { client_id: string; redirect_uris: string[]; application_type: string };
    assert.equal(client?.client_id, clientId, 'the page kept its registration');
    assert.deepEqual(client.redirect_uris, [`${pageOrigin}/callback`]);
    assert.equal(client.application_type, 'native', 'a loopback redirect: the server treats the page like an app on this machine');
    const tokens = await storedTokens(page);
    assert.ok(tokens?.access_token && tokens.refresh_token, 'access and refresh token in localStorage');

    // MCP: initialize, notifications/initialized and tools/list, each with the token.
    assert.equal(await text(page, 'status'), 'connected to UUID MCP Server');
    assert.equal(await text(page, 'tools'), 'generate_uuid, get_user_profile');
    const uuid = await generateUuidOn(page);
    assert.ok(isUuidV4(uuid), `a UUID on the page: ${uuid}`);
    await screenshot(page, 'browser-client-connected.png');
    const calls = await since();
    assertMcpCallsUsed(calls.requests, tokens.access_token, 4);
    const sessions = fetches(calls.requests, 'POST', '/mcp').map((request) => (request.headers['mcp-session-id'] ? 'in session' : 'new'));
    assert.deepEqual(sessions, ['new', 'in session', 'in session', 'in session'], 'initialize opened a session the page then used (Mcp-Session-Id readable across origins)');
    // Chromium remembers a preflight answer (Access-Control-Max-Age), so the calls with a token may not need another.
    for (const preflight of traffic.preflights) assert.equal(preflight.status, 204, `preflight ${preflight.url.pathname}`);
  });

  it('refresh: the page exchanges its refresh token at /token, stores the new tokens, and the new access token works', { timeout: 120_000 }, async () => {
    const before = (await storedTokens(page))!;
    step();
    await page.getByRole('button', { name: 'Refresh token' }).click();
    await settledAs(page, 'connected');
    const after = (await storedTokens(page))!;
    assert.notEqual(after.access_token, before.access_token, 'a new access token in localStorage');
    assert.notEqual(after.refresh_token, before.refresh_token, 'the rotated refresh token in localStorage');
    assert.ok(isUuidV4(await generateUuidOn(page)));

    const { requests } = await since();
    const refreshes = fetches(requests, 'POST', '/token');
    assert.equal(refreshes.length, 1);
    assert.equal(refreshes[0]!.status, 200);
    assert.equal(refreshes[0]!.responseHeaders?.['access-control-allow-origin'], pageOrigin);
    assertMcpCallsUsed(requests, after.access_token, 4);
  });

  it('after the server restarts on the same data: a reload signs in with nothing but what localStorage kept', { timeout: 120_000 }, async () => {
    const stored = (await storedTokens(page))!;
    server = await restartServer(server);
    step();
    await page.reload();
    await settledAs(page, 'connected');
    assert.ok(isUuidV4(await generateUuidOn(page)));
    await screenshot(page, 'browser-client-after-restart.png');
    const { requests } = await since();
    assert.deepEqual(requests.filter((request) => request.url.pathname !== '/mcp').map((request) => `${request.method} ${request.url.pathname}`), [], 'no discovery, registration, sign-in or token request');
    assertMcpCallsUsed(requests, stored.access_token, 4);
    assert.deepEqual(await storedTokens(page), stored);
  });

  it(`the same page on http://${OTHER_HOST} (not this machine to the server): refused at /mcp with 403, even with a valid token, until ALLOWED_ORIGINS lists it`, { timeout: 120_000 }, async () => {
    const otherOrigin = `http://${OTHER_HOST}:${site.port}`;
    const elsewhere = await newPage(await browser.newContext({ viewport: { width: 1024, height: 768 } }));
    const elsewhereTraffic = await recordPageTraffic(elsewhere, server.url);
    const refusal = escapeRegExp(`Origin ${otherOrigin} may not use this server`);
    try {
      // Connect: the very first request, the probe of /mcp, is refused for the origin before any token is looked at.
      await elsewhere.goto(`${otherOrigin}/?mcp=${encodeURIComponent(server.mcpUrl)}`);
      await settledAs(elsewhere, 'signed-out');
      await elsewhere.getByRole('button', { name: 'Connect' }).click();
      await settledAs(elsewhere, 'error');
      assert.match(await text(elsewhere, 'error'), new RegExp(`expected 401, got 403 .*${refusal}`));
      await screenshot(elsewhere, 'browser-client-other-origin-refused.png');
      await elsewhereTraffic.settled();
      const probe = fetches(elsewhereTraffic.requests, 'POST', '/mcp');
      assert.equal(probe.length, 1);
      assert.equal(probe[0]!.headers.origin, otherOrigin);
      assert.equal(probe[0]!.status, 403);
      assert.equal(elsewhereTraffic.preflights[0]?.status, 204, 'the preflight is answered for any origin: the request itself is refused, readably');

      // The tokens the loopback page holds, put into this page's storage: still refused, the origin is the rule.
      const saved = (await page.evaluate<string>('JSON.stringify(localStorage)'));
      await elsewhere.evaluate<void, string>((entries) => {
        const storage = (globalThis as unknown as { localStorage: { setItem(key: string, value: string): void } }).localStorage;
        for (const [key, value] of Object.entries(JSON.parse(entries) as Record<string, string>)) storage.setItem(key, value);
      }, saved);
      await elsewhere.reload();
      await settledAs(elsewhere, 'error');
      assert.match(await text(elsewhere, 'error'), new RegExp(`^initialize: 403 .*${refusal}`));
      await elsewhereTraffic.settled();
      const withToken = fetches(elsewhereTraffic.requests, 'POST', '/mcp').at(-1)!;
      assert.match(withToken.headers.authorization ?? '', /^Bearer /);
      assert.equal(withToken.status, 403);

      // Listed in ALLOWED_ORIGINS, the same page with the same token is served.
      server = await restartServer(server, { env: { ALLOWED_ORIGINS: otherOrigin } });
      await elsewhere.reload();
      await settledAs(elsewhere, 'connected');
      assert.ok(isUuidV4(await generateUuidOn(elsewhere)));
      await screenshot(elsewhere, 'browser-client-other-origin-allowed.png');
    } finally {
      await elsewhere.context().close();
    }
  });

  it('no errors in the page\'s console but the refusals it was shown', () => {
    const expected = /Failed to load resource: the server responded with a status of (401 \(Unauthorized\)|403 \(Forbidden\))/;
    assert.deepEqual(consoleErrors.filter((line) => !expected.test(line)), []);
  });
});
