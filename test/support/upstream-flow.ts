import { asPage, FormBrowser, formWithAction, type Page, type Visit } from './form-browser.js';
import { visibleText } from './forms.js';

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
  const { authorizeUrl } = await clickUpstreamButton(browser, authorizationUrl, provider);
  const callback = await atUpstream(authorizeUrl, ourOrigin);
  return allow(browser, await backAtCallback(browser, callback));
}
