import assert from 'node:assert/strict';
import { asPage, FormBrowser, formWithAction, type Page, type Visit } from './form-browser.js';
import { visibleText } from './forms.js';
import { mcpRequest, openSession, RawOAuthClient, toolsCallMessage, tokensOf, type ServerLike, type Tokens } from './raw-oauth.js';
import type { ServerProcess } from './server-process.js';

/**
 * The person's steps in an upstream sign-in, each a real HTTP request: on our sign-in page they
 * click "Sign in with …" (the form's POST), at the upstream they are signed in already (the test
 * upstreams authorize without a page), and the upstream sends the browser back to our callback.
 * `browser` is the browser's cookie jar for our server, `upstream` its jar for the upstream's origin.
 */
export interface UpstreamStart {
  /** Our sign-in page, as shown. */
  login: Page;
  /** Where the button's POST sent the browser: the upstream's authorize URL. */
  authorizeUrl: URL;
}

/** Opens the client's authorization URL and clicks the provider's button on our sign-in page. */
export async function clickUpstreamButton(browser: FormBrowser, authorizationUrl: URL, provider: 'github' | 'oidc'): Promise<UpstreamStart> {
  const login = asPage(await browser.open(authorizationUrl));
  if (login.status !== 200) throw new Error(`expected our sign-in page, got ${login.status}: ${visibleText(login.html).slice(0, 300)}`);
  const form = formWithAction(login, `/upstream/${provider}`);
  const visit = await browser.submit(login, form);
  if (visit.kind !== 'left') throw new Error(`the ${provider} button did not lead to the upstream: ${visit.status} ${visibleText(visit.html).slice(0, 300)}`);
  return { login, authorizeUrl: visit.location };
}

/** At the upstream: follows its redirects (and its own cookies) until it sends the browser back to `ourOrigin`. */
export async function atUpstream(authorizeUrl: URL, ourOrigin: string): Promise<URL> {
  const upstream = new FormBrowser(authorizeUrl.origin);
  const visit = await upstream.open(authorizeUrl);
  if (visit.kind !== 'left') throw new Error(`the upstream showed a page instead of coming back: ${visit.status} ${visibleText(visit.html).slice(0, 300)}`);
  if (visit.location.origin !== ourOrigin) throw new Error(`the upstream sent the browser to ${visit.location.href}, not back to ${ourOrigin}`);
  return visit.location;
}

/** Back at our callback with `browser`: the consent page when the sign-in worked, else what the browser got. */
export function backAtCallback(browser: FormBrowser, callbackUrl: URL): Promise<Visit> {
  return browser.open(callbackUrl);
}

/** Button, upstream, and back at our callback: what the browser then gets (our consent page when the sign-in worked). */
export async function throughUpstream(browser: FormBrowser, authorizationUrl: URL, provider: 'github' | 'oidc', ourOrigin: string): Promise<Visit> {
  const { authorizeUrl } = await clickUpstreamButton(browser, authorizationUrl, provider);
  return backAtCallback(browser, await atUpstream(authorizeUrl, ourOrigin));
}

/** Allows on our consent page; the redirect to the client (code, state, iss). */
export async function allow(browser: FormBrowser, consent: Visit): Promise<URL> {
  const page = asPage(consent);
  if (page.status !== 200) throw new Error(`expected our consent page, got ${page.status}: ${visibleText(page.html).slice(0, 300)}`);
  const visit = await browser.submit(page, formWithAction(page, '/confirm'));
  if (visit.kind !== 'left') throw new Error(`Allow did not lead back to the client: ${visit.status} ${visibleText(visit.html).slice(0, 300)}`);
  return visit.location;
}

/** The whole way: button, upstream, callback, consent, Allow; the redirect to the client. */
export async function signInThroughUpstream(browser: FormBrowser, authorizationUrl: URL, provider: 'github' | 'oidc', ourOrigin: string): Promise<URL> {
  return allow(browser, await throughUpstream(browser, authorizationUrl, provider, ourOrigin));
}

/** An upstream fixture (fake-github.ts, upstream-oidc.ts): who the person at it is. */
interface SignsIn {
  signInAs(who: string): void;
}

/**
 * A fresh MCP client (registered, PKCE) whose person signs in as `who` at the upstream and allows:
 * the client, and its tokens from this server. The redirect to it must carry its own state and a code.
 */
export async function authorizeThroughUpstream(server: ServerProcess, upstream: SignsIn, provider: 'github' | 'oidc', who: string): Promise<{ client: RawOAuthClient; tokens: Tokens }> {
  upstream.signInAs(who);
  const client = await RawOAuthClient.registerLoopback(server);
  const authRequest = client.authorizationRequest();
  const callback = await signInThroughUpstream(new FormBrowser(server.url), authRequest.url, provider, server.url);
  assert.equal(callback.searchParams.get('state'), authRequest.state);
  const code = callback.searchParams.get('code');
  assert.ok(code, `a code for the client: ${callback.href}`);
  return { client, tokens: tokensOf(await client.exchange(code, authRequest.verifier)) };
}

/** get_user_profile's result for this token (a fresh session). */
export async function userProfileFor(server: ServerLike, accessToken: string): Promise<{ isError?: boolean; structuredContent?: Record<string, unknown>; content?: { text: string }[] }> {
  const sessionId = await openSession(server, accessToken);
  const reply = await mcpRequest(server, accessToken, toolsCallMessage(2, 'get_user_profile'), { sessionId });
  assert.equal(reply.status, 200, reply.text);
  return reply.message?.result as { isError?: boolean; structuredContent?: Record<string, unknown>; content?: { text: string }[] };
}
