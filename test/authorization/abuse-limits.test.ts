import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { visibleText } from '../support/forms.js';
import { formWithAction, FormBrowser, type Page } from '../support/form-browser.js';
import { assertOAuthError, assertTooManyRequests } from '../support/oauth-assertions.js';
import { signInPage } from '../support/page-steps.js';
import { RawOAuthClient, registerRaw, request, type RawResponse } from '../support/raw-oauth.js';
import { addUser, ADMIN, restartServer, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sleep } from '../support/time-limit.js';

/**
 * Every server here believes X-Forwarded-For from loopback (TRUST_PROXY=loopback), so one test
 * process can speak as many client addresses, as a reverse proxy on this host would.
 */
const BEHIND_LOCAL_PROXY = { TRUST_PROXY: 'loopback' };
const from = (address: string) => ({ 'x-forwarded-for': address });
const loopbackClient = { redirect_uris: ['http://127.0.0.1:4000/cb'], token_endpoint_auth_method: 'none' };

describe('registrations per address (REGISTRATION_RATE_LIMIT=2)', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess({ env: { ...BEHIND_LOCAL_PROXY, REGISTRATION_RATE_LIMIT: '2' } });
  });
  after(async () => {
    await server?.stop();
  });

  it('caps clients registered, not requests: refused registrations do not count, 2 succeed, the 3rd gets 429 temporarily_unavailable with Retry-After, and another address still registers', async () => {
    const refused = await registerRaw(server, { redirect_uris: ['http://app.example/cb'] }, from('203.0.113.10'));
    assertOAuthError(refused, 400, 'invalid_redirect_uri', 'a plain-http web redirect');
    for (let registration = 1; registration <= 2; registration += 1) {
      const answer = await registerRaw(server, loopbackClient, from('203.0.113.10'));
      assert.equal(answer.status, 201, `registration ${registration}: ${answer.text}`);
    }
    const third = await registerRaw(server, loopbackClient, from('203.0.113.10'));
    const retryAfter = assertTooManyRequests(third, 'the third client from one address');
    assert.ok(retryAfter <= 3600, `within the hour: ${retryAfter}`);
    assert.equal(third.json?.client_id, undefined);
    assert.equal((await registerRaw(server, loopbackClient, from('203.0.113.11'))).status, 201, 'another address');
    // Refusals past the limit do not count either: the limit stays where it was, not further away.
    assertTooManyRequests(await registerRaw(server, loopbackClient, from('203.0.113.10')), 'again');
  });
});

describe('token endpoints per address (TOKEN_RATE_LIMIT=3)', () => {
  let server: ServerProcess;
  let client: RawOAuthClient;
  before(async () => {
    server = await startServerProcess({ env: { ...BEHIND_LOCAL_PROXY, TOKEN_RATE_LIMIT: '3' } });
    client = await RawOAuthClient.registerLoopback(server);
  });
  after(async () => {
    await server?.stop();
  });

  const post = (path: string, body: Record<string, string>, address: string, json = false) => request(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded', ...from(address) },
    body: json ? JSON.stringify(body) : new URLSearchParams(body),
  });

  it('/token, /revoke and /introspect share one budget: the 4th request in a minute from one address gets 429 temporarily_unavailable with Retry-After and no-store, at each of them; another address is unaffected', async () => {
    const address = '198.51.100.20';
    const bogusRefresh = { grant_type: 'refresh_token', refresh_token: 'not-a-token', client_id: client.clientId };
    assertOAuthError(await post('/token', bogusRefresh, address), 400, 'invalid_grant', 'request 1 (/token)');
    assert.equal((await post('/revoke', { token: 'not-a-token', client_id: client.clientId }, address)).status, 200, 'request 2 (/revoke)');
    assert.notEqual((await post('/introspect', { token: 'not-a-token', client_id: client.clientId }, address, true)).status, 429, 'request 3 (/introspect, JSON)');
    for (const path of ['/token', '/revoke', '/introspect']) {
      const refused = await post(path, path === '/token' ? bogusRefresh : { token: 'not-a-token', client_id: client.clientId }, address);
      const retryAfter = assertTooManyRequests(refused, `${path} past the limit`);
      assert.ok(retryAfter <= 60, `within the minute: ${retryAfter}`);
    }
    assertTooManyRequests(await post('/token', bogusRefresh, address, true), 'a JSON body counts the same');
    assertOAuthError(await post('/token', bogusRefresh, '198.51.100.21'), 400, 'invalid_grant', 'another address');
  });
});

/** Posts `page`'s sign-in form as if from `address`, with this browser's cookies: 303 onwards when signed in, else a page. */
function signInFrom(browser: FormBrowser, page: Page, address: string, username: string, password: string): Promise<RawResponse> {
  const form = formWithAction(page, '/login');
  const url = new URL(form.action, page.url);
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url.origin, cookie: browser.cookieHeader(url), ...from(address) },
    body: new URLSearchParams({ ...form.fields, username, password }),
  });
}

function assertSignedIn(answer: RawResponse, label: string): void {
  assert.equal(answer.status, 303, `${label}: ${answer.status} ${visibleText(answer.text).slice(0, 300)}`);
  assert.match(answer.headers.get('location') ?? '', /\/auth\//, label);
}

function assertWrongPassword(answer: RawResponse, label: string): void {
  assert.equal(answer.status, 401, `${label}: ${answer.status} ${visibleText(answer.text).slice(0, 300)}`);
  assert.match(visibleText(answer.text), /Wrong username or password/, label);
}

/** The sign-in page again with 429, Retry-After (seconds) and the wait in words (minutes past 60 s); returns Retry-After. */
function assertBackingOff(answer: RawResponse, label: string): number {
  assert.equal(answer.status, 429, `${label}: ${answer.status} ${visibleText(answer.text).slice(0, 300)}`);
  assert.match(answer.headers.get('content-type') ?? '', /^text\/html/, label);
  assert.match(answer.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, label);
  const retryAfter = Number(answer.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter > 0, `${label} Retry-After: ${answer.headers.get('retry-after')}`);
  const words = retryAfter === 1 ? '1 second' : retryAfter < 60 ? `${retryAfter} seconds` : `${Math.ceil(retryAfter / 60)} minutes`;
  assert.match(visibleText(answer.text), new RegExp(`Too many failed sign-ins for this username\\. Try again in ${words}\\.`), label);
  assert.match(answer.text, /name="password"/, `${label}: the sign-in form is still there`);
  return retryAfter;
}

/**
 * Waits are 1 s doubling, so these tests build a wait up first (a failure, then sleeping past each
 * wait) and check it with margins a slow machine cannot break; the exact sequence of waits is
 * checked with a fixed clock in test/storage/unused-clients.test.ts.
 */
describe('per-account sign-in backoff (LOGIN_FAILURES_BEFORE_BACKOFF=2, LOGIN_BACKOFF_MAX=3s)', () => {
  let server: ServerProcess;
  let client: RawOAuthClient;
  before(async () => {
    server = await startServerProcess({ env: { ...BEHIND_LOCAL_PROXY, LOGIN_FAILURES_BEFORE_BACKOFF: '2', LOGIN_BACKOFF_MAX: '3s' } });
    client = await RawOAuthClient.registerLoopback(server);
  });
  after(async () => {
    await server?.stop();
  });

  const openSignIn = async () => {
    const browser = new FormBrowser(server.url);
    return { browser, page: signInPage(await browser.open(client.authorizationRequest().url)) };
  };

  /** Four wrong passwords, each from another address, sleeping past the 1 s and 2 s waits: the next wait is 3 s (4 s capped). Returns when the last failed. */
  const fourFailures = async (username: string, answers: string[] = []): Promise<number> => {
    const { browser, page } = await openSignIn();
    let last = 0;
    for (const [index, pause] of [0, 0, 1_100, 2_100].entries()) {
      await sleep(pause);
      const answer = await signInFrom(browser, page, `192.0.2.${index + 1}`, username, `wrong-password-${index}`);
      last = Date.now();
      answers.push(`${answer.status} ${visibleText(answer.text).replace(/.*(Wrong username or password)\..*/s, '$1')}`);
      assertWrongPassword(answer, `${username}: failure ${index + 1}`);
    }
    return last;
  };

  it('after wrong passwords from four addresses, the right password from a fifth gets the sign-in page with 429 and Retry-After; attempts during the wait do not lengthen it, which ends at LOGIN_BACKOFF_MAX (3 s, not 4 s): then the right password signs in', async () => {
    const lastFailure = await fourFailures(ADMIN.username.toUpperCase());
    const { browser, page } = await openSignIn();
    const retryAfter = assertBackingOff(await signInFrom(browser, page, '192.0.2.50', ADMIN.username, ADMIN.password), 'the right password during the wait');
    assert.ok(retryAfter <= 3, `capped at 3 s: Retry-After ${retryAfter}`);
    for (let attempt = 1; attempt <= 3; attempt += 1) assertBackingOff(await signInFrom(browser, page, `192.0.2.${60 + attempt}`, ADMIN.username, 'guess'), `attempt ${attempt} during the wait`);
    await sleep(lastFailure + 3_100 - Date.now());
    assertSignedIn(await signInFrom(browser, page, '192.0.2.50', ADMIN.username, ADMIN.password), '3.1 s after the last failure');
    assert.match(server.output(), /login\.backoff user=admin ip=192\.0\.2\.50/);
  });

  it('a successful sign-in starts the count again: after it, the next two wrong passwords are answered 401, not 429', async () => {
    const dave = { username: 'dave', password: 'daves-real-password' };
    addUser(server.dataDir, dave);
    const { browser, page } = await openSignIn();
    for (const attempt of [1, 2]) assertWrongPassword(await signInFrom(browser, page, '192.0.2.70', dave.username, `wrong-${attempt}`), `failure ${attempt}`);
    await sleep(1_100);
    const second = await openSignIn();
    assertSignedIn(await signInFrom(second.browser, second.page, '192.0.2.70', dave.username, dave.password), 'after the 1 s wait');
    const third = await openSignIn();
    for (const attempt of [3, 4]) assertWrongPassword(await signInFrom(third.browser, third.page, '192.0.2.70', dave.username, `wrong-${attempt}`), `failure ${attempt}, after the success`);
  });

  it('an unknown username backs off exactly like a known one: the same statuses and words (the wait reveals nothing about which accounts exist)', async () => {
    const sequence = async (username: string) => {
      const answers: string[] = [];
      await fourFailures(username, answers);
      const { browser, page } = await openSignIn();
      const refused = await signInFrom(browser, page, '192.0.2.80', username, 'guess');
      assertBackingOff(refused, `${username}: the fifth attempt`);
      answers.push(`${refused.status} ${visibleText(refused.text).replace(/.*(Too many failed sign-ins for this username)\..*/s, '$1')}`);
      return answers;
    };
    addUser(server.dataDir, { username: 'carol', password: 'carols-real-password' });
    const known = await sequence('carol');
    const unknown = await sequence('nobody-by-this-name');
    assert.deepEqual(unknown, known);
  });
});

describe('per-account sign-in backoff across a restart', () => {
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.stop();
  });

  it('the count is in the database: 8 failures, then a restart with 1 free failure, and the next attempt waits 2^7 s after the last failure', async () => {
    server = await startServerProcess({ env: { LOGIN_FAILURES_BEFORE_BACKOFF: '8' } });
    const client = await RawOAuthClient.registerLoopback(server);
    const browser = new FormBrowser(server.url);
    const page = signInPage(await browser.open(client.authorizationRequest().url));
    for (let attempt = 1; attempt <= 8; attempt += 1) assertWrongPassword(await signInFrom(browser, page, '192.0.2.90', ADMIN.username, `guess-${attempt}`), `failure ${attempt}`);
    server = await restartServer(server, { env: { LOGIN_FAILURES_BEFORE_BACKOFF: '1', LOGIN_BACKOFF_MAX: '1h' } });
    const again = new FormBrowser(server.url);
    const retryAfter = assertBackingOff(await signInFrom(again, signInPage(await again.open(client.authorizationRequest().url)), '192.0.2.91', ADMIN.username, ADMIN.password), 'after the restart');
    assert.ok(retryAfter > 60 && retryAfter <= 128, `Retry-After ${retryAfter}`);
  });
});
