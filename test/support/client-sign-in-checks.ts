import assert from 'node:assert/strict';
import { type PersonAtBrowser } from './person-at-browser.js';
import type { ServerLike } from './raw-oauth.js';
import type { ServerLog } from './server-log.js';
import { introspect } from './token-checks.js';

/**
 * Checks shared by the suites that drive a client in its own process (mcp-remote, Inspector CLI):
 * what it put on the authorization URL, what came back to it, what the token it stored is bound
 * to, and that it met no error on its way but the 401 challenges.
 */

/** The authorization request the client sent the browser to: code flow, PKCE S256, its client and redirect, RFC 8707 resource. */
export function assertAuthorizationRequest(url: URL, server: ServerLike & { url: string }, expected: { clientId: string; redirectUri: string }): void {
  assert.equal(`${url.origin}${url.pathname}`, `${server.url}/auth`, 'the authorization endpoint from the metadata');
  assert.equal(url.searchParams.get('response_type'), 'code');
  assert.equal(url.searchParams.get('client_id'), expected.clientId);
  assert.equal(url.searchParams.get('redirect_uri'), expected.redirectUri);
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.match(url.searchParams.get('code_challenge') ?? '', /^[\w-]{43}$/, 'an S256 challenge');
  assert.ok(url.searchParams.get('state'), 'a state');
  assert.equal(url.searchParams.get('resource'), server.mcpUrl, 'the resource is the MCP URL');
  assert.ok((url.searchParams.get('scope') ?? '').split(' ').includes('uuid:generate'), `asks for the tool's scope: ${url.searchParams.get('scope')}`);
}

/** The redirect back to the client: code, its state, and the issuer (RFC 9207); and the client's callback server took it. */
export function assertAuthorizationResponse(person: PersonAtBrowser, server: { url: string }, successText: RegExp): void {
  const { authorizationUrl, callback, delivered } = person;
  assert.equal(`${callback.origin}${callback.pathname}`, authorizationUrl.searchParams.get('redirect_uri'), 'sent to the registered redirect');
  assert.ok(callback.searchParams.get('code'), 'with a code');
  assert.equal(callback.searchParams.get('state'), authorizationUrl.searchParams.get('state'), 'state echoed');
  assert.equal(callback.searchParams.get('iss'), server.url, 'iss (RFC 9207) is the issuer');
  assert.equal(delivered.status, 200, `the client's callback server accepted the redirect: ${delivered.text}`);
  assert.match(delivered.text, successText);
}

/** The server's own view of an access token the client stored (RFC 7662): live, the client's, for the MCP URL. */
export async function assertTokenFor(server: ServerLike, clientId: string, accessToken: string): Promise<void> {
  const answer = await introspect(server, clientId, accessToken);
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.json?.active, true, `the stored access token is live: ${answer.text}`);
  assert.equal(answer.json?.client_id, clientId);
  assert.equal(answer.json?.aud, server.mcpUrl, 'bound to the MCP URL (RFC 8707)');
  assert.ok(String(answer.json?.scope).split(' ').includes('uuid:generate'), `scope: ${answer.json?.scope}`);
}

/** No request of the client (or the person's browser) failed, apart from the 401 challenges of /mcp. */
export function assertOnly401Challenges(log: ServerLog): void {
  const failures = log.access().filter((entry) => entry.status >= 400 && !(entry.url.pathname === '/mcp' && entry.status === 401));
  assert.deepEqual(failures.map((entry) => `${entry.method} ${entry.url.pathname} ${entry.status}`), [], `unexpected errors in:\n${log.summary()}`);
}

/**
 * The MCP traffic began once the client held its token (after the last token request), and from
 * its first accepted request on, every /mcp request was accepted (200, or 202 for notifications).
 * Unauthenticated probes before that (mcp-remote's GET, a first POST that draws the challenge) are
 * the discovery the 401 is for.
 */
export function assertMcpAcceptedOnceAuthorized(log: ServerLog): void {
  const access = log.access();
  const firstAccepted = access.findIndex((entry) => entry.method === 'POST' && entry.url.pathname === '/mcp' && entry.status === 200);
  assert.ok(firstAccepted >= 0, `MCP requests were answered:\n${log.summary()}`);
  assert.ok(access.map((entry) => entry.url.pathname).lastIndexOf('/token') < firstAccepted, `the MCP traffic began after the last token request:\n${log.summary()}`);
  const mcp = access.slice(firstAccepted).filter((entry) => entry.url.pathname === '/mcp');
  assert.deepEqual(mcp.filter((entry) => entry.status !== 200 && entry.status !== 202).map((entry) => `${entry.method} ${entry.status}`), [], `every MCP request from then on was accepted:\n${log.summary()}`);
}
