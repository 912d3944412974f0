import assert from 'node:assert/strict';
import { parseForms } from './forms.js';
import { type Person } from './person-at-browser.js';

/** One answer the server gave on the way through sign-in and consent, as the browser received it. */
export interface RecordedStep {
  method: string;
  /** Where the browser sent the request (the public URL, before any proxy). */
  url: URL;
  status: number;
  headers: Headers;
  /** The page's HTML; empty for a redirect. */
  html: string;
}

export interface RecordedSignIn {
  steps: RecordedStep[];
  /** Where the browser was finally sent: the client's redirect URI with code, state and iss. */
  callback: URL;
  /** The interaction pages it went through (/interaction/<uid>), in order. */
  interactions: string[];
}

/**
 * A person signing in and allowing through the real pages, every answer recorded (status, headers,
 * page), so a test can check what a browser received at each step rather than only where it ended.
 * `listenerUrl` is where requests really go: for an https PUBLIC_URL, the plain-http listener
 * behind the TLS proxy, with `X-Forwarded-Proto: https` as the proxy adds it.
 */
export async function recordSignIn(publicUrl: string, start: URL, person: Person, listenerUrl = publicUrl): Promise<RecordedSignIn> {
  const jar = new Map<string, string>();
  const steps: RecordedStep[] = [];
  const interactions: string[] = [];
  const viaProxy: Record<string, string> = publicUrl.startsWith('https:') ? { 'x-forwarded-proto': 'https' } : {};
  let url = start;
  let body: URLSearchParams | undefined;
  for (let step = 0; step < 12; step += 1) {
    const method = body ? 'POST' : 'GET';
    const headers: Record<string, string> = { ...viaProxy, cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; ') };
    if (body) Object.assign(headers, { 'content-type': 'application/x-www-form-urlencoded', origin: publicUrl });
    const response = await fetch(url.href.replace(publicUrl, listenerUrl), { method, redirect: 'manual', signal: AbortSignal.timeout(15_000), headers, body });
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const eq = pair!.indexOf('=');
      const [name, value] = [pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim()];
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(header)) jar.delete(name);
      else jar.set(name, value);
    }
    const location = response.headers.get('location');
    const html = location ? '' : await response.text();
    steps.push({ method, url, status: response.status, headers: response.headers, html });
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, publicUrl);
      if (next.origin !== publicUrl) return { steps, callback: next, interactions };
      if (next.pathname.startsWith('/interaction/')) interactions.push(next.pathname);
      url = next;
      body = undefined;
      continue;
    }
    assert.equal(response.status, 200, `${url.pathname}: ${response.status} ${html.slice(0, 300)}`);
    const form = parseForms(html).find((candidate) => /\/(login|confirm)$/.test(candidate.action));
    assert.ok(form, `a sign-in or consent form on ${url.pathname}`);
    const values: Record<string, string> = form.action.endsWith('/login') ? { username: person.username, password: person.password } : {};
    url = new URL(form.action, publicUrl);
    body = new URLSearchParams({ ...form.fields, ...values });
  }
  throw new Error('the sign-in did not leave for the client within 12 steps');
}
