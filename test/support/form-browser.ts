import { parseForms, visibleText, type HtmlForm } from './forms.js';

/**
 * The "browser" of a test: a cookie jar and manual redirect following, so a test can open an
 * authorization URL, fill in and submit the real login and consent forms, and stop at the redirect
 * that leaves for the client. Only the person is simulated; every request is a real HTTP request.
 * `alsoVisits` names other origins the person's browser goes through on the way (an upstream sign-in
 * at GitHub or an OpenID provider): redirects to them are followed too, and cookies are kept per
 * host, as a browser keeps them.
 */
export class FormBrowser {
  readonly #cookies = new Map<string, { host: string; name: string; value: string; path: string }>();
  readonly #origins: Set<string>;

  constructor(private readonly origin: string, alsoVisits: string[] = []) {
    this.#origins = new Set([origin, ...alsoVisits.map((other) => new URL(other).origin)]);
  }

  /** Follows redirects within the server (and the origins it also visits); returns the page reached, or the redirect that leaves them. */
  async open(url: string | URL, init: RequestInit = {}): Promise<Visit> {
    let target = new URL(url, this.origin);
    let request: RequestInit = init;
    for (let hops = 0; hops < 20; hops += 1) {
      if (!this.#origins.has(target.origin)) return { kind: 'left', location: target, status: 302 };
      const response = await fetch(target, { ...request, redirect: 'manual', headers: { ...(request.headers as Record<string, string>), cookie: this.cookieHeader(target) } });
      this.store(response, target);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        target = new URL(location, target);
        request = {};
        if (!this.#origins.has(target.origin)) return { kind: 'left', location: target, status: response.status };
        continue;
      }
      return { kind: 'page', url: target, status: response.status, headers: response.headers, html: await response.text() };
    }
    throw new Error('too many redirects');
  }

  /** Submits `form` (from the page) with `values` filled in, as a browser would: urlencoded POST. */
  submit(page: Page, form: HtmlForm, values: Record<string, string> = {}): Promise<Visit> {
    const body = new URLSearchParams({ ...form.fields, ...values });
    return this.open(new URL(form.action, page.url), {
      method: form.method,
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: page.url.origin },
      body,
    });
  }

  cookieHeader(url: URL): string {
    return [...this.#cookies.values()]
      .filter((cookie) => cookie.host === url.hostname && url.pathname.startsWith(cookie.path))
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  private store(response: Response, url: URL): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const path = attributes.map((part) => part.trim()).find((part) => part.toLowerCase().startsWith('path='))?.slice(5) ?? url.pathname;
      const expired = attributes.some((part) => /^\s*expires=Thu, 01 Jan 1970/i.test(part) || /^\s*max-age=0/i.test(part));
      // Keyed by host, not origin (browsers do not keep cookies apart by port), and by path: a
      // second sign-in's interaction cookies (Path=/interaction/{uid}) sit beside the first's, as in two tabs.
      const key = `${url.hostname}\n${name}\n${path}`;
      if (expired || value === '') this.#cookies.delete(key);
      else this.#cookies.set(key, { host: url.hostname, name, value, path });
    }
  }
}

export type Page = { kind: 'page'; url: URL; status: number; headers: Headers; html: string };
export type Visit = Page | { kind: 'left'; location: URL; status: number };

export function asPage(visit: Visit): Page {
  if (visit.kind !== 'page') throw new Error(`expected a page, but the browser was sent to ${visit.location.href}`);
  return visit;
}

export function formWithAction(page: Page, suffix: string): HtmlForm {
  const form = parseForms(page.html).find((candidate) => candidate.action.endsWith(suffix));
  if (!form) throw new Error(`no form posting to …${suffix} on ${page.url.pathname}: ${visibleText(page.html).slice(0, 300)}`);
  return form;
}
