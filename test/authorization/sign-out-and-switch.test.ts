import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseForms, visibleText } from '../support/forms.js';
import { freePort } from '../support/free-port.js';
import { asPage, formWithAction, FormBrowser, type Page, type Visit } from '../support/form-browser.js';
import { codeFrom, consentPage, signInOnly, signInPage } from '../support/page-steps.js';
import { type Person } from '../support/person-at-browser.js';
import { RawOAuthClient, tokensOf } from '../support/raw-oauth.js';
import { ADMIN, addUser, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { assertTokenAccepted, profileOf } from '../support/token-checks.js';

const BOB: Person = { username: 'bob', password: 'bob-test-password-42' };
const WEB_REDIRECT = 'https://app.example/cb';

/**
 * oidc-provider ends the previous browser session through a page whose only form posts to
 * /session/end/confirm and submits itself with JavaScript. FormBrowser runs no JavaScript, so
 * it submits that form as the browser would; any other page is returned as it is.
 */
async function followAutoSubmit(browser: FormBrowser, visit: Visit): Promise<Visit> {
  if (visit.kind !== 'page') return visit;
  const forms = parseForms(visit.html);
  if (forms.length !== 1 || !forms[0]!.action.endsWith('/session/end/confirm')) return visit;
  assert.match(visit.html, /document\.forms\[0\]\.submit\(\)/, 'the page submits its form by itself');
  return browser.submit(visit, forms[0]!);
}

function assertPageHeaders(page: Page, label: string): void {
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /frame-ancestors 'none'/, `${label}: CSP ${csp}`);
  assert.equal(page.headers.get('x-frame-options'), 'DENY', `${label}: X-Frame-Options`);
  assert.match(page.headers.get('cache-control') ?? '', /no-store/, `${label}: Cache-Control`);
}

const heading = (page: Page) => visibleText(/<h1>([\s\S]*?)<\/h1>/.exec(page.html)?.[1] ?? '');

/** A web client admin approved in `browser`, which stays signed in as admin. */
async function approvedWebClient(server: ServerProcess, browser: FormBrowser): Promise<{ client: RawOAuthClient; tokens: ReturnType<typeof tokensOf> }> {
  const client = await RawOAuthClient.register(server, [WEB_REDIRECT]);
  const authRequest = client.authorizationRequest();
  const consent = consentPage(await signInOnly(browser, authRequest.url, ADMIN));
  const code = codeFrom(await browser.submit(consent, formWithAction(consent, '/confirm')), WEB_REDIRECT, authRequest.state);
  return { client, tokens: tokensOf(await client.exchange(code, authRequest.verifier)) };
}

describe('switching accounts and signing out', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
    addUser(server.dataDir, BOB);
  });
  after(async () => {
    await server?.stop();
  });

  it('"Not Administrator (admin)? Use another account" on the consent page leads to the sign-in page; bob signs in, approves, and the code gives a token that is bob\'s', async () => {
    const redirectUri = `http://127.0.0.1:${await freePort()}/cb`;
    const client = await RawOAuthClient.register(server, [redirectUri]);
    const browser = new FormBrowser(server.url);
    const authRequest = client.authorizationRequest();

    const adminConsent = consentPage(await signInOnly(browser, authRequest.url, ADMIN), 'admin');
    assert.match(visibleText(adminConsent.html), /wants to act as Administrator \(admin\)/);
    const switchForm = formWithAction(adminConsent, '/switch');
    assert.match(switchForm.action, /^\/interaction\/[^/]+\/switch$/);
    assert.match(visibleText(adminConsent.html), /Not Administrator \(admin\)\? Use another account/);

    const login = signInPage(await browser.submit(adminConsent, switchForm), 'after "Use another account"');
    assert.equal(login.status, 200);
    const afterLogin = await browser.submit(login, formWithAction(login, '/login'), { username: BOB.username, password: BOB.password });
    const visit = await followAutoSubmit(browser, afterLogin);

    const bobConsent = consentPage(visit, 'bob');
    const text = visibleText(bobConsent.html);
    assert.match(text, /wants to act as bob on this server/);
    assert.doesNotMatch(text, /admin/i, 'nothing of admin is left on the page');

    const code = codeFrom(await browser.submit(bobConsent, formWithAction(bobConsent, '/confirm')), redirectUri, authRequest.state);
    const tokens = tokensOf(await client.exchange(code, authRequest.verifier));
    const profile = await profileOf(server, tokens.access_token);
    assert.equal(profile.username, 'bob');

    // The browser is now bob's: signing out names him.
    const signOut = asPage(await browser.open('/session/end'));
    assert.match(visibleText(signOut.html), /You are signed in as bob\b/);
  });

  it('GET /session/end in a signed-in browser shows "Sign out?" naming the user, with a form posting to /session/end/confirm; "Sign out" shows "Signed out", and the next authorization asks to sign in again', async () => {
    const browser = new FormBrowser(server.url);
    const { client } = await approvedWebClient(server, browser);
    const before = client.authorizationRequest();
    codeFrom(await browser.open(before.url), WEB_REDIRECT, before.state);

    const signOut = asPage(await browser.open('/session/end'));
    assert.equal(signOut.status, 200);
    assert.equal(heading(signOut), 'Sign out?');
    assert.match(visibleText(signOut.html), /You are signed in as admin\b/);
    assertPageHeaders(signOut, 'Sign out?');
    const form = formWithAction(signOut, '/session/end/confirm');
    assert.equal(form.method, 'POST');
    assert.ok(form.fields.xsrf, 'the form carries its xsrf token');
    assert.match(signOut.html, /<button type="submit" form="op\.logoutForm" name="logout" value="yes"[^>]*>Sign out<\/button>/);

    const signedOut = asPage(await browser.submit(signOut, form, { logout: 'yes' }));
    assert.equal(signedOut.status, 200);
    assert.equal(heading(signedOut), 'Signed out');
    assertPageHeaders(signedOut, 'Signed out');

    signInPage(await browser.open(client.authorizationRequest().url), 'the next authorization');
  });

  it('signing out leaves the applications the user allowed their access, as the page says: their tokens still work', async () => {
    const browser = new FormBrowser(server.url);
    const { client, tokens } = await approvedWebClient(server, browser);
    const signOut = asPage(await browser.open('/session/end'));
    assert.match(visibleText(signOut.html), /applications you allowed keep their access until you revoke it/);
    assert.equal(heading(asPage(await browser.submit(signOut, formWithAction(signOut, '/session/end/confirm'), { logout: 'yes' }))), 'Signed out');
    await assertTokenAccepted(server, tokens.access_token, 'after signing out');
    tokensOf(await client.refresh(tokens.refresh_token));
  });

  it('"Stay signed in" keeps the browser signed in and does not say it signed out', async () => {
    const browser = new FormBrowser(server.url);
    const { client } = await approvedWebClient(server, browser);
    const signOut = asPage(await browser.open('/session/end'));
    // The "Stay signed in" button submits the same form without logout=yes.
    assert.match(signOut.html, /<button type="submit" form="op\.logoutForm">Stay signed in<\/button>/);
    const answer = await browser.submit(signOut, formWithAction(signOut, '/session/end/confirm'));

    const again = client.authorizationRequest();
    codeFrom(await browser.open(again.url), WEB_REDIRECT, again.state);
    if (answer.kind === 'page') {
      assert.doesNotMatch(visibleText(answer.html), /Signed out|You are signed out/, `after "Stay signed in" the page reads: ${visibleText(answer.html)}`);
    }
  });
});
