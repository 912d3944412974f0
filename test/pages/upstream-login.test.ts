import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import type { FakeGitHub } from '../support/fake-github.js';
import { assertStyled, assertVisible, authorizationRequest, CallbackServer, cardText, exchangeCode, register, type RegisteredClient, screenshot, SCREENSHOTS, STEP_TIMEOUT } from '../support/page-app.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import type { UpstreamOidc } from '../support/upstream-oidc.js';
import { withFakeGitHub, withGitHubAndOidc } from '../support/upstream-servers.js';

/**
 * The login page with upstream sign-in, in real Chromium: the "Sign in with GitHub" and "Sign in
 * with {provider}" buttons next to the password form; a click goes through the upstream (the local
 * GitHub of test/support/fake-github.ts, the OpenID provider of test/support/upstream-oidc.ts) and
 * back to our consent page; a GitHub account the allowlist refuses sees the refusal page, whose
 * "Back to the application" link gives the app access_denied. Screenshots go to
 * test-output/screenshots/upstream-*.png.
 */

const onInteractionPage = (server: ServerProcess) => (url: URL) => url.origin === server.url && /^\/interaction\/[^/]+$/.test(url.pathname);

describe('login page with upstream sign-in in a real browser (Chromium)', () => {
  let github: FakeGitHub;
  let oidc: UpstreamOidc;
  let server: ServerProcess;
  let callbacks: CallbackServer;
  let browser: Browser;
  let app: RegisteredClient;
  const contexts: BrowserContext[] = [];
  const consoleErrors: string[] = [];

  /** A fresh browser profile (no cookies: nobody signed in here yet), its page's errors collected. */
  const freshPage = async (): Promise<{ page: Page; visited: URL[] }> => {
    const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, colorScheme: 'light', locale: 'en-US' });
    context.setDefaultTimeout(STEP_TIMEOUT);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT);
    contexts.push(context);
    const page = await context.newPage();
    const visited: URL[] = [];
    page.on('request', (request) => {
      if (request.isNavigationRequest()) visited.push(new URL(request.url()));
    });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(`${page.url()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => consoleErrors.push(`${page.url()}: ${error.message}`));
    return { page, visited };
  };

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await launchChromium();
    const setup = await withGitHubAndOidc(
      [{ login: 'Octo-Cat', id: 583231, name: 'The Octocat' }, { login: 'hubot', id: 480938, name: 'Hubot' }],
      [{ sub: 'alice-0001', email: 'alice@example.org', email_verified: true, name: 'Alice Example' }],
      { env: { GITHUB_ALLOWED_USERS: 'octo-cat', OIDC_NAME: 'Example ID' } },
    );
    ({ github, oidc } = setup);
    server = await startServerProcess(setup.options);
    callbacks = await CallbackServer.start();
    app = await register(server, 'Upstream Screenshot App', callbacks.redirectUri);
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await callbacks?.close();
    await server?.stop();
    await github?.close();
    await oidc?.close();
  });

  it('the login page offers "Sign in with GitHub", "Sign in with Example ID" and the password form; GitHub\'s button leads through GitHub to our consent page, and Allow gives the app a code', { timeout: 120_000 }, async () => {
    github.signInAs('Octo-Cat');
    const { page, visited } = await freshPage();
    const request = authorizationRequest(server, app);
    const response = await page.goto(request.url);
    assert.equal(response?.status(), 200);
    assert.ok(onInteractionPage(server)(new URL(page.url())), `on the sign-in page, not ${page.url()}`);
    assert.equal(await page.title(), 'Sign in · UUID MCP Server');
    const gitHubButton = page.getByRole('button', { name: 'Sign in with GitHub', exact: true });
    const oidcButton = page.getByRole('button', { name: 'Sign in with Example ID', exact: true });
    await assertVisible(gitHubButton, 'the "Sign in with GitHub" button');
    await assertVisible(oidcButton, 'the "Sign in with Example ID" button');
    await assertVisible(page.getByLabel('Username'), 'the username field (local accounts are on)');
    await assertVisible(page.getByRole('button', { name: 'Sign in', exact: true }), 'the password form\'s button');
    assert.equal(await page.locator('.client-name').innerText(), 'Upstream Screenshot App');
    await assertStyled(page);
    await screenshot(page, 'upstream-login.png');

    await gitHubButton.click();
    await page.waitForURL(onInteractionPage(server));
    await page.waitForLoadState('load');
    const throughGitHub = visited.filter((url) => url.origin === github.baseUrl);
    assert.deepEqual(throughGitHub.map((url) => url.pathname), ['/login/oauth/authorize'], 'the browser went to GitHub\'s authorize page');
    assert.ok(visited.some((url) => url.origin === server.url && url.pathname === '/github/callback'), 'and came back through our /github/callback');
    const heading = page.getByRole('heading', { level: 1 });
    assert.equal(await heading.innerText(), 'Allow access?', 'our consent page, even though GitHub authorized at once');
    assert.equal(await page.locator('.user').innerText(), 'The Octocat (github:octo-cat)', 'the GitHub user, by display name and username');
    assert.equal(await page.locator('.client-name').innerText(), 'Upstream Screenshot App');
    assert.match(await cardText(page), /wants to act as The Octocat \(github:octo-cat\) on this server/);
    await assertStyled(page);
    await screenshot(page, 'upstream-consent.png');

    await page.getByRole('button', { name: 'Allow' }).click();
    const callback = await callbacks.nth(0);
    assert.equal(callback.searchParams.get('state'), request.state);
    assert.equal(callback.searchParams.get('iss'), server.url);
    const tokens = await exchangeCode(server, app, request, callback.searchParams.get('code') ?? '');
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(tokens.body.access_token);
    assert.ok(!github.tokensOf('Octo-Cat').includes(tokens.body.access_token!), 'the app\'s token is ours, not GitHub\'s');
  });

  it('a GitHub account the allowlist refuses sees who was refused and why; "Back to the application" gives the app access_denied', { timeout: 120_000 }, async () => {
    github.signInAs('hubot');
    const { page } = await freshPage();
    const request = authorizationRequest(server, app);
    await page.goto(request.url);
    const [refusal] = await Promise.all([
      page.waitForResponse((candidate) => new URL(candidate.url()).pathname === '/github/callback'),
      page.getByRole('button', { name: 'Sign in with GitHub', exact: true }).click(),
    ]);
    assert.equal(refusal.status(), 403, 'the callback answers the refused account with 403');
    await page.waitForLoadState('load');
    const text = await cardText(page);
    assert.match(text, /hubot/, `the page names who was refused: ${text}`);
    assert.match(text, /allowed/, `and why: ${text}`);
    assert.doesNotMatch(text, /Allow access/);
    const back = page.getByRole('link', { name: 'Back to the application' });
    await assertVisible(back, 'the "Back to the application" link');
    // Runs in the page; the tests are type-checked without the DOM library, hence the cast.
    const look = await back.evaluate((link) => {
      const style = (globalThis as unknown as { getComputedStyle(element: unknown): Record<string, string> }).getComputedStyle(link);
      return { background: style.backgroundColor!, color: style.color!, underline: style.textDecorationLine!, radius: style.borderTopLeftRadius!, padding: style.paddingTop! };
    });
    assert.deepEqual(look, { background: 'rgb(47, 91, 234)', color: 'rgb(255, 255, 255)', underline: 'none', radius: '8px', padding: '9.6px' }, 'drawn as the primary button, not as a link');
    await screenshot(page, 'upstream-refused.png');
    const seen = callbacks.received.length;

    await back.click();
    const callback = await callbacks.nth(seen);
    assert.equal(callback.searchParams.get('error'), 'access_denied', callback.href);
    assert.equal(callback.searchParams.get('state'), request.state);
    assert.equal(callback.searchParams.get('code'), null);
  });

  it('"Sign in with Example ID" leads through the OpenID provider to our consent page for its user', { timeout: 120_000 }, async () => {
    oidc.signInAs('alice-0001');
    const { page, visited } = await freshPage();
    await page.goto(authorizationRequest(server, app).url);
    await page.getByRole('button', { name: 'Sign in with Example ID', exact: true }).click();
    await page.waitForURL(onInteractionPage(server));
    await page.waitForLoadState('load');
    assert.ok(visited.some((url) => url.origin === oidc.issuer), 'the browser went to the provider');
    assert.ok(visited.some((url) => url.origin === server.url && url.pathname === '/oidc/callback'), 'and came back through our /oidc/callback');
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Allow access?');
    assert.equal(await page.locator('.user').innerText(), 'Alice Example (alice@example.org)');
    await screenshot(page, 'upstream-consent-oidc.png');
  });

  it('the pages logged no errors (CSP, scripts) besides the refusal page\'s own 403', () => {
    const refusal = /^[^ ]+\/github\/callback\?[^ ]*: Failed to load resource: the server responded with a status of 403/;
    assert.deepEqual(consoleErrors.filter((line) => line.startsWith(server.url) && !refusal.test(line)), []);
  });
});

describe('login page with LOCAL_ACCOUNTS=false in a real browser (Chromium)', () => {
  let github: FakeGitHub;
  let server: ServerProcess;
  let browser: Browser;
  let context: BrowserContext;

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await launchChromium();
    const setup = await withFakeGitHub([{ login: 'Octo-Cat', name: 'The Octocat' }], { env: { LOCAL_ACCOUNTS: 'false' } });
    github = setup.upstream;
    server = await startServerProcess(setup.options);
  });
  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.stop();
    await github?.close();
  });

  it('only the GitHub button: no username or password field', { timeout: 60_000 }, async () => {
    const callbacks = await CallbackServer.start();
    try {
      const app = await register(server, 'GitHub-only App', callbacks.redirectUri);
      context = await browser.newContext({ viewport: { width: 1024, height: 768 }, colorScheme: 'light', locale: 'en-US' });
      const page = await context.newPage();
      assert.equal((await page.goto(authorizationRequest(server, app).url))?.status(), 200);
      await assertVisible(page.getByRole('button', { name: 'Sign in with GitHub', exact: true }), 'the "Sign in with GitHub" button');
      assert.equal(await page.getByLabel('Username').count(), 0, 'no username field');
      assert.equal(await page.getByLabel('Password').count(), 0, 'no password field');
      assert.equal(await page.getByRole('button', { name: 'Sign in', exact: true }).count(), 0, 'no password form');
      await assertStyled(page);
      await screenshot(page, 'upstream-login-only.png');
    } finally {
      await callbacks.close();
    }
  });
});
