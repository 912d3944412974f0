import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { MCP_SCOPES, OIDC_SCOPES } from '../../src/authorization/scopes.js';
import { launchChromium } from '../support/chromium.js';
import { assertStyled, assertVisible, authorizationRequest, CallbackServer, cardText, exchangeCode, register, type RegisteredClient, screenshot, SCREENSHOTS, STEP_TIMEOUT } from '../support/page-app.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';

/**
 * Every cookie in the browser (the interaction ones are scoped to their /interaction/… and /auth/…
 * paths, so context.cookies(url) would miss them): the server's only, HttpOnly, SameSite=Lax, and
 * not Secure since the server runs on http://localhost.
 */
async function assertCookies(context: BrowserContext, mustInclude: string): Promise<void> {
  const cookies = await context.cookies();
  console.log(`cookies: ${cookies.map((cookie) => `${cookie.name} (${cookie.domain}${cookie.path})`).join(', ')}`);
  assert.ok(cookies.some((cookie) => cookie.name === mustInclude), `the server set ${mustInclude}`);
  for (const cookie of cookies) {
    assert.equal(cookie.domain, 'localhost', `${cookie.name} comes from the server`);
    assert.equal(cookie.httpOnly, true, `${cookie.name} is HttpOnly`);
    assert.equal(cookie.sameSite, 'Lax', `${cookie.name} is SameSite=Lax`);
    assert.equal(cookie.secure, false, `${cookie.name} is not Secure on http://localhost`);
  }
}

const onInteractionPage = (server: ServerProcess) => (url: URL) => url.origin === server.url && /^\/interaction\/[^/]+$/.test(url.pathname);

describe('sign-in and consent pages in a real browser (Chromium)', () => {
  let server: ServerProcess;
  let callbacks: CallbackServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let app: RegisteredClient;
  /** Every URL the page requested, and everything it logged as an error. */
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  const documents: Response[] = [];

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await launchChromium(); // first: a missing Chromium fails here, with what to install
    server = await startServerProcess();
    callbacks = await CallbackServer.start();
    context = await browser.newContext({ viewport: { width: 1024, height: 768 }, colorScheme: 'light', locale: 'en-US' });
    context.setDefaultTimeout(STEP_TIMEOUT);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT);
    page = await context.newPage();
    page.on('request', (request) => requests.push(request.url()));
    page.on('response', (response) => {
      const redirect = response.status() >= 300 && response.status() < 400;
      if (!redirect && response.request().isNavigationRequest() && response.url().startsWith(`${server.url}/interaction/`)) documents.push(response);
    });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(`${page.url()}: ${message.text()} [${message.location().url}]`);
    });
    page.on('pageerror', (error) => consoleErrors.push(`${page.url()}: ${error.message}`));
    app = await register(server, 'Screenshot Test App', callbacks.redirectUri);
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await callbacks?.close();
    await server?.stop();
  });

  it('a person signs in (after one wrong password), sees who asks for what, allows, and the app gets a working code', { timeout: 120_000 }, async () => {
    const request = authorizationRequest(server, app);

    // 1. The app opens the authorization URL: the browser lands on the sign-in page.
    const response = await page.goto(request.url);
    assert.ok(response, 'the navigation produced a response');
    assert.equal(response.status(), 200);
    assert.ok(onInteractionPage(server)(new URL(page.url())), `on the sign-in page, not ${page.url()}`);
    assert.equal(await page.title(), 'Sign in · UUID MCP Server');
    const heading = page.getByRole('heading', { level: 1 });
    await assertVisible(heading, 'the heading');
    assert.equal(await heading.innerText(), 'Sign in');
    await assertVisible(page.locator('.client-name'), 'the client name');
    assert.equal(await page.locator('.client-name').innerText(), 'Screenshot Test App');
    const provenance = page.locator('.provenance');
    await assertVisible(provenance, 'how the server knows the client');
    assert.equal(await provenance.innerText(), 'Registered itself with this server (not verified)');
    const redirectLine = page.locator('.redirect');
    await assertVisible(redirectLine, 'where the result goes');
    assert.match(await redirectLine.innerText(), new RegExp(`will receive the result at 127\\.0\\.0\\.1:${callbacks.port} \\(an app on this computer\\)`));
    await assertVisible(page.getByLabel('Username'), 'the username field');
    await assertVisible(page.getByLabel('Password'), 'the password field');
    await assertVisible(page.getByRole('button', { name: 'Sign in' }), 'the Sign in button');
    await assertVisible(page.getByRole('button', { name: 'Cancel' }), 'the Cancel button');
    await assertStyled(page);
    await screenshot(page, 'login.png');

    // 2. The page's own protections: headers, and cookies a script cannot read and other sites cannot send.
    const headers = response.headers();
    assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    assert.match(headers['content-security-policy'] ?? '', /default-src 'none'/);
    assert.equal(headers['referrer-policy'], 'no-referrer');
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.equal(headers['cache-control'], 'no-store');
    await assertCookies(context, '_interaction');

    // 3. A wrong password: the same page again, with the error shown and the username kept.
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password').fill('not-the-password');
    const [failed] = await Promise.all([
      page.waitForResponse((candidate) => candidate.request().method() === 'POST' && candidate.url().endsWith('/login')),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    assert.equal(failed.status(), 401);
    await page.waitForLoadState('load');
    const alert = page.getByRole('alert');
    await assertVisible(alert, 'the sign-in error');
    assert.equal(await alert.innerText(), 'Wrong username or password.');
    assert.equal(await heading.innerText(), 'Sign in');
    assert.equal(await page.locator('.client-name').innerText(), 'Screenshot Test App', 'the client is still named after the error');
    assert.equal(await page.getByLabel('Username').inputValue(), ADMIN.username, 'the username is kept');
    assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not sent back');
    await assertStyled(page);
    await screenshot(page, 'login-error.png');

    // Then the right password, typed as a person types it.
    await page.getByLabel('Username').fill('');
    await page.getByLabel('Username').pressSequentially(ADMIN.username);
    await page.getByLabel('Password').pressSequentially(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();

    // 4. The consent page: who asks, as whom, and for what, in words.
    await page.waitForURL(onInteractionPage(server));
    await page.waitForLoadState('load');
    assert.equal(await page.title(), 'Allow access? · UUID MCP Server');
    await assertVisible(heading, 'the heading');
    assert.equal(await heading.innerText(), 'Allow access?');
    assert.equal(await page.getByLabel('Password').count(), 0, 'no password asked again');
    await assertVisible(page.locator('.client-name'), 'the client name');
    assert.equal(await page.locator('.client-name').innerText(), 'Screenshot Test App');
    assert.match(await page.locator('.redirect').innerText(), new RegExp(`127\\.0\\.0\\.1:${callbacks.port} \\(an app on this computer\\)`));
    await assertVisible(page.locator('.provenance'), 'how the server knows the client');
    assert.equal(await page.locator('.provenance').innerText(), 'Registered itself with this server (not verified)');
    await assertVisible(page.locator('.user'), 'the signed-in user');
    assert.equal(await page.locator('.user').innerText(), 'Administrator (admin)', 'the display name and the username of the bootstrap admin');
    const permissions = page.locator('.permissions li');
    await assertVisible(permissions, 'the permissions');
    // The words of scopes.ts, and (so a rewording is noticed here too) those words spelled out.
    assert.deepEqual(await permissions.allInnerTexts(), [MCP_SCOPES['uuid:generate'], MCP_SCOPES['profile:read'], OIDC_SCOPES.offline_access]);
    assert.deepEqual(await permissions.allInnerTexts(), [
      'Generate UUIDs for you',
      'See your profile: your user id, your name and how you signed in',
      'Stay connected without asking you to sign in again',
    ]);
    const text = await cardText(page);
    assert.match(text, /wants to act as Administrator \(admin\) on this server\. It asks to:/);
    assert.doesNotMatch(text, /uuid:generate|profile:read|offline_access/, 'no raw scope names');
    await assertVisible(page.getByRole('button', { name: 'Allow' }), 'the Allow button');
    await assertVisible(page.getByRole('button', { name: 'Deny' }), 'the Deny button');
    await assertStyled(page);
    await screenshot(page, 'consent.png');
    // Signed in now: the browser session cookie (the one that spares the next sign-in) is just as locked down.
    await assertCookies(context, '_session');
    // The same page for a person whose system uses a dark theme (the stylesheet follows prefers-color-scheme).
    await page.emulateMedia({ colorScheme: 'dark' });
    const darkBackground = await page.locator('button.primary').evaluate((button) => (globalThis as unknown as { getComputedStyle(element: unknown): { backgroundColor: string } }).getComputedStyle(button).backgroundColor);
    assert.equal(darkBackground, 'rgb(111, 143, 255)', 'dark theme applied');
    await screenshot(page, 'consent-dark.png');
    await page.emulateMedia({ colorScheme: 'light' });

    // 5. Allow: the browser ends at the app's loopback listener with code, state and iss.
    await page.getByRole('button', { name: 'Allow' }).click();
    const callback = await callbacks.nth(0);
    await page.waitForURL((url) => url.href.startsWith(callbacks.redirectUri));
    assert.equal(await page.locator('body').innerText(), 'done', 'the browser shows what the app answered');
    assert.ok(callback.searchParams.get('code'), `a code: ${callback.search}`);
    assert.equal(callback.searchParams.get('state'), request.state);
    assert.equal(callback.searchParams.get('iss'), server.url);
    assert.equal(callback.searchParams.get('error'), null);

    // 6. The approval was real: the code buys an access token for /mcp.
    const tokens = await exchangeCode(server, app, request, callback.searchParams.get('code')!);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(tokens.body.access_token, 'an access token');
    assert.equal(tokens.body.token_type?.toLowerCase(), 'bearer');
  });

  it('the same app again: no sign-in, only "Continue?" over what was allowed before; then Continue', { timeout: 120_000 }, async () => {
    // 7a. Same client, same browser. The browser session spares the sign-in; the remembered
    // consent turns the question into "Continue?". The page is still shown: a loopback (native)
    // client is asked every time (RFC 8252 §8.6, oidc-provider's native_client_prompt), since any
    // app on the machine can use its client id.
    const again = authorizationRequest(server, app);
    const seen = requests.length;
    const response = await page.goto(again.url);
    assert.ok(response);
    assert.equal(response.status(), 200);
    assert.ok(onInteractionPage(server)(new URL(page.url())), `on the consent page, not ${page.url()}`);
    assert.equal(await page.getByLabel('Password').count(), 0, 'no sign-in: the browser session is remembered');
    const heading = page.getByRole('heading', { level: 1 });
    await assertVisible(heading, 'the heading');
    assert.equal(await heading.innerText(), 'Continue?', 'consent is remembered: only asked to continue');
    assert.equal(await page.title(), 'Continue? · UUID MCP Server');
    assert.equal(await page.locator('.client-name').innerText(), 'Screenshot Test App');
    assert.match(await cardText(page), /You allowed this application before\. It will again act as Administrator \(admin\) on this server and be able to:/);
    assert.deepEqual(await page.locator('.permissions li').allInnerTexts(), [MCP_SCOPES['uuid:generate'], MCP_SCOPES['profile:read'], OIDC_SCOPES.offline_access]);
    await assertVisible(page.getByRole('button', { name: 'Continue' }), 'the Continue button');
    await assertVisible(page.getByRole('button', { name: 'Deny' }), 'the Deny button');
    assert.equal(await page.getByRole('button', { name: 'Allow' }).count(), 0, 'nothing new to allow');
    await assertStyled(page);
    await screenshot(page, 'consent-again.png');

    await page.getByRole('button', { name: 'Continue' }).click();
    const straight = await callbacks.nth(1);
    await page.waitForURL((url) => url.href.startsWith(callbacks.redirectUri));
    const visited = requests.slice(seen).filter((url) => url.includes('/interaction/'));
    assert.equal(visited.filter((url) => url.endsWith('/login')).length, 0, `never signed in again: ${visited.join(', ')}`);
    assert.equal(visited.filter((url) => !url.endsWith('/confirm')).length, 1, `one page on the way: ${visited.join(', ')}`);
    assert.ok(straight.searchParams.get('code'), `a code: ${straight.search}`);
    assert.equal(straight.searchParams.get('state'), again.state);
    assert.equal(straight.searchParams.get('iss'), server.url);
    const tokens = await exchangeCode(server, app, again, straight.searchParams.get('code')!);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(tokens.body.access_token);
  });

  it('another app asks for consent again (no second sign-in), and Deny sends access_denied', { timeout: 120_000 }, async () => {
    // 7b. A different client: consent again (consent is per client), but already signed in.
    const another = await register(server, 'Another App', callbacks.redirectUri);
    assert.notEqual(another.clientId, app.clientId);
    const request = authorizationRequest(server, another);
    const response = await page.goto(request.url);
    assert.ok(response);
    assert.equal(response.status(), 200);
    assert.ok(onInteractionPage(server)(new URL(page.url())), `on the consent page, not ${page.url()}`);
    const heading = page.getByRole('heading', { level: 1 });
    await assertVisible(heading, 'the heading');
    assert.equal(await heading.innerText(), 'Allow access?', 'consent, not sign-in: the browser is signed in');
    assert.equal(await page.getByLabel('Password').count(), 0);
    await assertVisible(page.locator('.client-name'), 'the client name');
    assert.equal(await page.locator('.client-name').innerText(), 'Another App');
    assert.equal(await page.locator('.user').innerText(), 'Administrator (admin)');
    assert.deepEqual(await page.locator('.permissions li').allInnerTexts(), [MCP_SCOPES['uuid:generate'], MCP_SCOPES['profile:read'], OIDC_SCOPES.offline_access]);
    assert.match(response.headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    await assertVisible(page.getByRole('button', { name: 'Deny' }), 'the Deny button');
    await assertStyled(page);
    await screenshot(page, 'consent-second-client.png');

    // 8. Deny: the app is told access_denied (with iss and its state), and gets no code.
    await page.getByRole('button', { name: 'Deny' }).click();
    const denied = await callbacks.nth(2);
    await page.waitForURL((url) => url.href.startsWith(callbacks.redirectUri));
    assert.equal(denied.searchParams.get('error'), 'access_denied', denied.search);
    assert.equal(denied.searchParams.get('state'), request.state);
    assert.equal(denied.searchParams.get('iss'), server.url);
    assert.equal(denied.searchParams.get('code'), null);
    assert.equal(callbacks.received.length, 3, 'exactly three trips back to the app');
  });

  it('every page came from this server alone, with its protective headers and without errors', () => {
    assert.ok(requests.length > 0);
    const allowed = new Set([new URL(server.url).origin, callbacks.origin]);
    const foreign = requests.filter((url) => !allowed.has(new URL(url).origin));
    assert.deepEqual(foreign, [], 'nothing loaded from other origins');
    assert.ok(requests.includes(`${server.url}/static/style.css`), 'the stylesheet came from the server');
    assert.ok(documents.length >= 5, `sign-in, sign-in with error, and three consent pages were loaded (${documents.length})`);
    for (const document of documents) {
      const headers = document.headers();
      assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/, document.url());
      assert.equal(headers['referrer-policy'], 'no-referrer', document.url());
    }
    // Two kinds of console error are expected: Chromium reports the wrong password's 401 page, and it
    // asks every origin for /favicon.ico on its own (neither the server nor the callback has one).
    const expected = [
      /: Failed to load resource: the server responded with a status of 401 \(Unauthorized\) \[http:\/\/localhost:\d+\/interaction\/[^/]+\/login\]$/,
      /: Failed to load resource: the server responded with a status of 404 \(Not Found\) \[http:\/\/[^/]+\/favicon\.ico\]$/,
    ];
    const unexpected = consoleErrors.filter((line) => !expected.some((pattern) => pattern.test(line)));
    assert.deepEqual(unexpected, [], 'no console errors (a CSP violation would show here)');
  });
});
