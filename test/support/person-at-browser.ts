import { asPage, FormBrowser, formWithAction, type Page } from './form-browser.js';
import { parseForms, visibleText } from './forms.js';
import { within } from './time-limit.js';
import type { LaunchWait, UrlOpener } from './url-opener.js';

/**
 * The person in a sign-in: their account, and what they do at the browser once their client has
 * opened the authorization URL (sign in and allow on the server's real forms, then follow the
 * redirect back to the client).
 */
export interface Person {
  username: string;
  password: string;
}

/**
 * A person who signs in with a button of the login page ("Sign in with GitHub", "Sign in with
 * {provider}") rather than a password; who they are at that upstream is the upstream fixture's
 * choice (`signInAs`), and the upstream lets them through without a page of its own.
 */
export interface UpstreamPerson {
  upstream: 'github' | 'oidc';
  /** The upstream's web origin: the browser follows the redirects through it and back. */
  at: string;
}

/** Either way of signing in on the server's login page. */
export type SignInAs = Person | UpstreamPerson;

export function isUpstreamPerson(person: SignInAs): person is UpstreamPerson {
  return 'upstream' in person;
}

/** A browser for `person`: one that also follows the redirects through their upstream. */
export function browserFor(serverUrl: string, person: SignInAs): FormBrowser {
  return new FormBrowser(serverUrl, isUpstreamPerson(person) ? [person.at] : []);
}

/** A page that submits its own form on load (oidc-provider's form_post pages): what the browser's script would do. */
export function isSelfSubmitting(page: Page): boolean {
  return page.html.includes('document.forms[0].submit()') && parseForms(page.html).length === 1;
}

/**
 * What a person does after their app opens the authorization URL: sign in if asked (with their
 * password, or with their upstream's button), allow if asked. Returns where the browser is finally
 * sent (the client's redirect URI with code, state and iss); `seen`, when given, receives each page
 * the person was shown on the way, in order. An upstream person's browser must follow their
 * upstream (`browserFor`).
 */
export async function signInAndAllow(browser: FormBrowser, authorizationUrl: string | URL, person: SignInAs, seen: Page[] = []): Promise<URL> {
  let visit = await browser.open(authorizationUrl);
  for (let step = 0; step < 6 && visit.kind === 'page'; step += 1) {
    const page = visit;
    seen.push(page);
    const upstreamForm = isUpstreamPerson(person) ? parseForms(page.html).find((form) => form.action.endsWith(`/upstream/${person.upstream}`)) : undefined;
    if (upstreamForm) {
      visit = await browser.submit(page, upstreamForm);
    } else if (isUpstreamPerson(person) && page.url.origin === new URL(person.at).origin && isSelfSubmitting(page)) {
      visit = await browser.submit(page, parseForms(page.html)[0]!);
    } else if (!isUpstreamPerson(person) && page.html.includes('/login"')) {
      visit = await browser.submit(page, formWithAction(page, '/login'), { username: person.username, password: person.password });
    } else if (page.html.includes('/confirm"')) {
      visit = await browser.submit(page, formWithAction(page, '/confirm'));
    } else {
      throw new Error(`unexpected page ${page.status} at ${page.url.pathname}: ${visibleText(page.html).slice(0, 300)}`);
    }
  }
  if (visit.kind !== 'left') throw new Error(`still on a page after signing in and allowing: ${visibleText(visit.html).slice(0, 300)}`);
  return visit.location;
}

/** Opens the authorization URL, signs `person` in through the login form, and stops on the consent page (does not allow). */
export async function signInToConsent(browser: FormBrowser, authorizationUrl: URL, person: Person): Promise<Page> {
  const login = asPage(await browser.open(authorizationUrl));
  if (login.status !== 200) throw new Error(`expected the sign-in page, got ${login.status} at ${login.url.pathname}`);
  const consent = asPage(await browser.submit(login, formWithAction(login, '/login'), { username: person.username, password: person.password }));
  if (consent.status !== 200) throw new Error(`expected the consent page after signing in, got ${consent.status} at ${consent.url.pathname}`);
  formWithAction(consent, '/confirm');
  return consent;
}

export interface PersonAtBrowser {
  /** The authorization URL the client launched. */
  authorizationUrl: URL;
  /** The server's pages the person saw on the way (sign-in, consent), in order. */
  pages: Page[];
  /** Where our server sent the browser after sign-in and consent: the client's redirect URI with code, state, iss. */
  callback: URL;
  /** The client's callback server's answer to that redirect. */
  delivered: { status: number; text: string };
}

/**
 * What the person does with the URL their client opened: signs in and allows through the
 * server's real forms (FormBrowser), then the browser follows the redirect to the client's
 * own callback server.
 */
export async function signInAndReturn(serverUrl: string, authorizationUrl: URL, person: SignInAs): Promise<PersonAtBrowser> {
  const pages: Page[] = [];
  const callback = await within(signInAndAllow(browserFor(serverUrl, person), authorizationUrl, person, pages), 15_000, 'signing in and allowing');
  const response = await fetch(callback, { signal: AbortSignal.timeout(15_000) });
  return { authorizationUrl, pages, callback, delivered: { status: response.status, text: await response.text() } };
}

/**
 * The person once the client has launched the browser: waits (bounded, 30 s unless `timeoutMs`)
 * for the launch, then signInAndReturn. `abort` (the client's run) ends the wait early if the
 * client gives up.
 */
export async function signInAtLaunch(shim: UrlOpener, seen: number, serverUrl: string, person: SignInAs, wait: LaunchWait & { timeoutMs?: number } = {}): Promise<PersonAtBrowser> {
  const authorizationUrl = await shim.nextLaunch(seen, wait.timeoutMs ?? 30_000, wait);
  return signInAndReturn(serverUrl, authorizationUrl, person);
}
