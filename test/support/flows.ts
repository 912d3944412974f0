import assert from 'node:assert/strict';
import { parseForms, visibleText } from './forms.js';
import { asPage, formWithAction, type HeadlessBrowser, type Page, type Person, type Visit } from './headless-browser.js';
import {
  initializeMessage,
  mcpRequest,
  openSession,
  request,
  resourceMetadataUrl,
  sleep,
  toolsCallMessage,
  type RawResponse,
  type ServerLike,
} from './raw-oauth.js';

/**
 * Steps of the browser flows that several test files take one at a time (where signInAndAllow
 * would hide which page came when), and small checks on what /mcp and /introspect say about a token.
 */

/** Opens `url`, expects the sign-in page, signs `person` in; returns whatever comes next (a page, or the redirect out). */
export async function signInOnly(browser: HeadlessBrowser, url: string | URL, person: Person): Promise<Visit> {
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

/** POST /introspect (RFC 7662) as the public client `clientId`. */
export function introspect(server: ServerLike, clientId: string, token: string): Promise<RawResponse> {
  return request(`${server.url}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, client_id: clientId }),
  });
}

/** The access token works at /mcp: initialize answers 200 with a result. */
export async function assertTokenAccepted(server: ServerLike, accessToken: string, label = ''): Promise<void> {
  const reply = await mcpRequest(server, accessToken, initializeMessage(1));
  assert.equal(reply.status, 200, `${label} the access token should work at /mcp: ${reply.status} ${reply.text}`);
  assert.ok(reply.message?.result, `${label} initialize result`);
}

/** The answer /mcp gives a token it refuses: 401, Bearer challenge with invalid_token and the resource metadata URL. */
export function assertInvalidTokenAnswer(reply: RawResponse, server: ServerLike, label = ''): void {
  assert.equal(reply.status, 401, `${label} expected 401 at /mcp, got ${reply.status}: ${reply.text}`);
  const challenge = reply.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer /, `${label} ${challenge}`);
  assert.match(challenge, /error="invalid_token"/, `${label} ${challenge}`);
  assert.ok(challenge.includes(`resource_metadata="${resourceMetadataUrl(server)}"`), `${label} ${challenge}`);
}

/**
 * The access token is refused at /mcp. Some revocations run on an event after the response that
 * caused them, so this retries for up to `withinMs` before failing.
 */
export async function assertTokenRefused(server: ServerLike, accessToken: string, withinMs = 0, label = ''): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const reply = await mcpRequest(server, accessToken, initializeMessage(1));
    if (reply.status === 401 || Date.now() >= deadline) {
      assertInvalidTokenAnswer(reply, server, label);
      return;
    }
    await sleep(50);
  }
}

/** Who a token belongs to, as the get_user_profile tool says (it needs the profile:read scope). */
export async function profileOf(server: ServerLike, accessToken: string): Promise<{ id: string; username: string; name: string }> {
  const sessionId = await openSession(server, accessToken);
  const reply = await mcpRequest(server, accessToken, toolsCallMessage(2, 'get_user_profile'), { sessionId });
  assert.equal(reply.status, 200, reply.text);
  const result = reply.message?.result as { isError?: boolean; structuredContent?: { id: string; username: string; name: string } } | undefined;
  assert.ok(result && result.isError !== true && result.structuredContent, `get_user_profile: ${reply.text}`);
  return result.structuredContent;
}
