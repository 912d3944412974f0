import type { Page, Request } from 'playwright-core';

/** One request a page sent to the origin being watched, and its answer. */
export interface PageRequest {
  method: string;
  url: URL;
  /** As sent, Origin and Authorization included (lower-case names). */
  headers: Record<string, string>;
  status?: number;
  responseHeaders?: Record<string, string>;
  /** A document load (the address bar), rather than a fetch by the page's script. */
  navigation: boolean;
}

/** A CORS preflight Chromium sent on its own before a script's request. */
export interface Preflight {
  url: URL;
  headers: Record<string, string>;
  status?: number;
}

export interface PageTraffic {
  requests: PageRequest[];
  preflights: Preflight[];
  /** Waits until every recorded request's headers have been read. */
  settled(): Promise<void>;
}

const lowerCase = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));

/**
 * Records what `page` sends to `origin`. Requests and answers come from Playwright; preflights only
 * from the DevTools protocol (Playwright does not report them), on the page's own CDP session.
 */
export async function recordPageTraffic(page: Page, origin: string): Promise<PageTraffic> {
  const requests: PageRequest[] = [];
  const preflights = new Map<string, Preflight>();
  const pending: Promise<unknown>[] = [];
  const entries = new Map<Request, PageRequest>();

  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.origin !== origin) return;
    const entry: PageRequest = { method: request.method(), url, headers: request.headers(), navigation: request.isNavigationRequest() };
    requests.push(entry);
    entries.set(request, entry);
    pending.push(request.allHeaders().then((headers) => (entry.headers = headers)).catch(() => undefined));
  });
  page.on('response', (response) => {
    const entry = entries.get(response.request());
    if (!entry) return;
    entry.status = response.status();
    pending.push(response.allHeaders().then((headers) => (entry.responseHeaders = headers)).catch(() => undefined));
  });

  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.requestWillBeSent', (event) => {
    const url = new URL(event.request.url);
    if (event.initiator.type !== 'preflight' || url.origin !== origin) return;
    preflights.set(event.requestId, { url, headers: lowerCase(event.request.headers as Record<string, string>) });
  });
  cdp.on('Network.responseReceived', (event) => {
    const preflight = preflights.get(event.requestId);
    if (preflight && event.type === 'Preflight') preflight.status = event.response.status;
  });

  return {
    requests,
    get preflights() {
      return [...preflights.values()];
    },
    async settled() {
      while (pending.length > 0) await Promise.all(pending.splice(0));
    },
  };
}
