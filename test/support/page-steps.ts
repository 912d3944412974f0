import assert from 'node:assert/strict';
import { parseForms, visibleText } from './forms.js';
import { asPage, formWithAction, type FormBrowser, type Page, type Visit } from './form-browser.js';
import { type Person } from './person-at-browser.js';

/**
 * The server's sign-in and consent pages, a step at a time, for tests that must see which page
 * came when (signInAndAllow takes them all at once): each step, and checks of what a page says.
 */

/** Opens `url`, expects the sign-in page, signs `person` in; returns whatever comes next (a page, or the redirect out). */
export async function signInOnly(browser: FormBrowser, url: string | URL, person: Person): Promise<Visit> {
  const login = asPage(await browser.open(url));
  assert.equal(login.status, 200, `the sign-in page: ${visibleText(login.html).slice(0, 200)}`);
  return browser.submit(login, formWithAction(login, '/login'), { username: person.username, password: person.password });
}

/** A page that asks for consent (or confirmation): it has the form posting to /interaction/<uid>/confirm. */
export function isConsentPage(visit: Visit): visit is Page {
  return visit.kind === 'page' && parseForms(visit.html).some((form) => /\/interaction\/[^/]+\/confirm$/.test(form.action));
}

/** Asserts `visit` is the consent page (status 200, the confirm form) and returns it. */
export function consentPage(visit: Visit, label = ''): Page {
  const page = asPage(visit);
  assert.equal(page.status, 200, `${label} consent page status: ${visibleText(page.html).slice(0, 200)}`);
  assert.ok(isConsentPage(page), `${label} expected the consent page, got: ${visibleText(page.html).slice(0, 300)}`);
  return page;
}

/** Asserts `visit` is the sign-in page (the login form) and returns it. */
export function signInPage(visit: Visit, label = ''): Page {
  const page = asPage(visit);
  assert.ok(parseForms(page.html).some((form) => /\/interaction\/[^/]+\/login$/.test(form.action)), `${label} expected the sign-in page, got ${page.status}: ${visibleText(page.html).slice(0, 300)}`);
  return page;
}

/** Asserts `visit` left the server for `redirectUri` with a code (and `state` if given); returns the code. */
export function codeFrom(visit: Visit, redirectUri: string, state?: string): string {
  assert.equal(visit.kind, 'left', visit.kind === 'page' ? `expected a redirect to the client, got a page: ${visibleText(visit.html).slice(0, 300)}` : '');
  const location = (visit as { location: URL }).location;
  assert.equal(`${location.origin}${location.pathname}`, redirectUri, `sent to the client: ${location.href}`);
  assert.equal(location.searchParams.get('error'), null, `no error: ${location.href}`);
  if (state !== undefined) assert.equal(location.searchParams.get('state'), state, 'state echoed');
  const code = location.searchParams.get('code');
  assert.ok(code, `a code in ${location.href}`);
  return code;
}

/**
 * A sign-in or consent page names the client as its metadata document does, and on a line of its
 * own, says the client was identified by the document at `documentUrl`.
 */
export function assertIdentifiedByDocument(page: Page, clientName: string, documentUrl: string): void {
  const where = page.url.pathname;
  assert.ok(page.html.includes(`<strong class="client-name">${clientName}</strong>`), `"${clientName}" as the client's name on ${where}`);
  const provenance = `<p class="provenance">Identified by its metadata document at <code>${documentUrl}</code></p>`;
  assert.ok(page.html.includes(provenance), `${provenance} on ${where}: ${visibleText(page.html).slice(0, 400)}`);
}

/** The list of permissions a consent page shows, item by item, in words. */
export function permissionsListed(page: Page): string[] {
  const list = /<ul class="permissions">([\s\S]*?)<\/ul>/.exec(page.html);
  assert.ok(list, 'the consent page lists permissions');
  return [...list[1]!.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((item) => visibleText(item[1]!));
}
