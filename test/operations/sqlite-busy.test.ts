import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DATABASE_FILE } from '../../src/storage/sqlite/database.js';
import { asPage, FormBrowser, formWithAction, type Page } from '../support/form-browser.js';
import { mcpRequest, openSession, RawOAuthClient, registerRaw, request, tokensOf, toolsCallMessage, type RawResponse } from '../support/raw-oauth.js';
import { recordRunSummary } from '../support/run-summary.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { holdWriteLock, type LockMode } from '../support/sqlite-lock.js';
import { sleep, within } from '../support/time-limit.js';

/**
 * Another process holding the database's write lock (SQLITE_BUSY for the server's writes): the
 * server waits and retries, off the event loop, for up to STORAGE_BUSY_TIMEOUT; a lock let go in
 * time is invisible to clients, one held longer gets 503 `temporarily_unavailable` with Retry-After
 * in the protocol of the path, never a 500.
 */

const BUSY_TIMEOUT_S = 2;
/** How long "briefly" holds the lock: well inside the bound. */
const BRIEF_HOLD_MS = 400;
const MODES: LockMode[] = ['IMMEDIATE', 'EXCLUSIVE'];

const registration = { client_name: 'busy test client', redirect_uris: ['http://127.0.0.1:9/callback'], token_endpoint_auth_method: 'none' };

/** 503 temporarily_unavailable with Retry-After: the bound, as OAuth JSON. */
function assertBusyOAuth(answer: RawResponse, label: string): void {
  assert.equal(answer.status, 503, `${label}: ${answer.status} ${answer.text}`);
  assert.equal(answer.headers.get('retry-after'), String(BUSY_TIMEOUT_S), `${label}: Retry-After`);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/json/, `${label}: content type`);
  assert.equal(answer.json?.error, 'temporarily_unavailable', `${label}: ${answer.text}`);
  assert.equal(typeof answer.json?.error_description, 'string', `${label}: ${answer.text}`);
}

/** Signs the browser in for a fresh authorization request of `client` and stops at its consent page. */
async function consentPage(client: RawOAuthClient, browser: FormBrowser): Promise<{ page: Page; verifier: string }> {
  const authRequest = client.authorizationRequest();
  let page = asPage(await browser.open(authRequest.url));
  if (page.html.includes('/login"')) page = asPage(await browser.submit(page, formWithAction(page, '/login'), { username: ADMIN.username, password: ADMIN.password }));
  assert.ok(page.html.includes('/confirm"'), `a consent page: ${page.status} ${page.html.slice(0, 200)}`);
  return { page, verifier: authRequest.verifier };
}

describe('SQLITE_BUSY: another process holding the database write lock', () => {
  let server: ServerProcess;
  let client: RawOAuthClient;
  let accessToken: string;
  let refreshToken: string;
  let sessionId: string;
  const counts = { waitedThenSucceeded: 0, refusedWith503: 0, answered5xxOtherThan503: 0 };

  before(async () => {
    server = await startServerProcess({ env: { STORAGE_BUSY_TIMEOUT: `${BUSY_TIMEOUT_S}s` } });
    client = await RawOAuthClient.registerLoopback(server);
    const tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
    accessToken = tokens.access_token;
    refreshToken = tokens.refresh_token;
    sessionId = await openSession(server, accessToken);
  });
  after(async () => {
    recordRunSummary(
      'faults',
      `SQLITE_BUSY: ${counts.waitedThenSucceeded} writes waited for a lock held ${BRIEF_HOLD_MS} ms and succeeded, ${counts.refusedWith503} refused 503 + Retry-After past the ${BUSY_TIMEOUT_S} s bound, ${counts.answered5xxOtherThan503} other 5xx`,
      counts.answered5xxOtherThan503 === 0,
    );
    await server?.stop();
  });

  const databaseFile = () => path.join(server.dataDir, DATABASE_FILE);
  const tally = (answer: { status: number }) => {
    if (answer.status >= 500 && answer.status !== 503) counts.answered5xxOtherThan503 += 1;
  };

  for (const mode of MODES) {
    it(`BEGIN ${mode} held ${BRIEF_HOLD_MS} ms: a registration and a refresh wait and then succeed (201, 200) while /healthz and /mcp tools/call answer 200 meanwhile`, async () => {
      const lock = await holdWriteLock(databaseFile(), mode);
      let releasedAt: number;
      let registered: Promise<{ answer: RawResponse; at: number }>;
      let refreshed: Promise<{ answer: RawResponse; at: number }>;
      try {
        const timed = (answer: Promise<RawResponse>) => answer.then((value) => ({ answer: value, at: Date.now() }));
        registered = timed(registerRaw(server, registration));
        refreshed = timed(client.refresh(refreshToken));
        // Reads go on (WAL), and the event loop is not frozen by the waiting writes.
        const health = await request(`${server.url}/healthz`);
        assert.equal(health.status, 200, health.text);
        const call = await mcpRequest(server, accessToken, toolsCallMessage(2, 'generate_uuid'), { sessionId });
        assert.equal(call.status, 200, call.text);
        assert.ok(call.message?.result, call.text);
        await sleep(BRIEF_HOLD_MS); // the lock stays held this long
      } finally {
        releasedAt = await lock.release();
      }
      const [registration201, refresh200] = await within(Promise.all([registered!, refreshed!]), 10_000, 'the writes after the lock was let go');
      for (const answer of [registration201.answer, refresh200.answer]) tally(answer);
      assert.equal(registration201.answer.status, 201, registration201.answer.text);
      assert.ok(registration201.at >= releasedAt, 'the registration was answered only once the lock was let go');
      const tokens = tokensOf(refresh200.answer);
      assert.ok(refresh200.at >= releasedAt, 'the refresh was answered only once the lock was let go');
      counts.waitedThenSucceeded += 2;
      accessToken = tokens.access_token;
      refreshToken = tokens.refresh_token;
      sessionId = await openSession(server, accessToken);
    });

    it(`BEGIN ${mode} held past STORAGE_BUSY_TIMEOUT: registration and refresh get 503 temporarily_unavailable (OAuth JSON), the consent form a 503 page, each with Retry-After: ${BUSY_TIMEOUT_S}; after the release the same refresh token, a registration and the consent all succeed`, async () => {
      const other = await RawOAuthClient.registerLoopback(server);
      const browser = new FormBrowser(server.url);
      const consent = await consentPage(other, browser);

      const lock = await holdWriteLock(databaseFile(), mode);
      let answers: [RawResponse, RawResponse, Page];
      try {
        answers = await within(Promise.all([
          registerRaw(server, registration),
          client.refresh(refreshToken),
          browser.submit(consent.page, formWithAction(consent.page, '/confirm')).then(asPage),
        ]), 15_000, 'the answers while the lock is held');
      } finally {
        await lock.release();
      }
      const [registered, refreshed, confirmed] = answers;
      for (const answer of answers) tally(answer);
      assertBusyOAuth(registered, 'POST /register');
      assertBusyOAuth(refreshed, 'POST /token (refresh_token)');
      assert.equal(confirmed.status, 503, `the consent form: ${confirmed.status} ${confirmed.html.slice(0, 300)}`);
      assert.equal(confirmed.headers.get('retry-after'), String(BUSY_TIMEOUT_S), 'the consent form: Retry-After');
      assert.match(confirmed.headers.get('content-type') ?? '', /^text\/html/, 'the consent form answers with a page');
      counts.refusedWith503 += 3;

      // Nothing half-done: the refused refresh consumed nothing, and everything works again.
      const tokens = tokensOf(await client.refresh(refreshToken));
      refreshToken = tokens.refresh_token;
      accessToken = tokens.access_token;
      sessionId = await openSession(server, accessToken);
      const again = await registerRaw(server, registration);
      assert.equal(again.status, 201, again.text);
      const retried = await consentPage(other, browser);
      const callback = await browser.submit(retried.page, formWithAction(retried.page, '/confirm'));
      assert.equal(callback.kind, 'left', 'the consent goes through after the release');
      const code = callback.kind === 'left' ? callback.location.searchParams.get('code') : null;
      assert.ok(code, `a code: ${callback.kind === 'left' ? callback.location.href : ''}`);
      tokensOf(await other.exchange(code, retried.verifier));
    });
  }
});
