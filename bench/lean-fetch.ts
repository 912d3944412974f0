import http from 'node:http';

/**
 * BENCHMARK ONLY. `fetch`'s interface over `node:http` with keep-alive, for timing the OAuth dance:
 * the dance is ~15 sequential requests, and on these machines Node's own fetch (undici, with its
 * WHATWG streams) took 1.5 ms for a lone loopback request that took 0.6 ms over node:http, as much
 * as the server spends on many of the dance's (bench/dance.ts times the dance with both clients).
 * It does only what the dance's clients use: a method, headers, a string or form body, no redirect
 * following (every 3xx is returned, as `redirect: 'manual'` does in Node), an abort signal.
 */
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function headerRecord(headers: RequestInit['headers']): Record<string, string> {
  if (!headers) return {};
  if (headers instanceof Headers) return Object.fromEntries(headers.entries());
  if (Array.isArray(headers)) return Object.fromEntries(headers);
  return { ...headers } as Record<string, string>;
}

function bodyOf(body: RequestInit['body']): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof URLSearchParams) return body.toString();
  throw new TypeError('lean fetch: only string and form bodies are supported');
}

export function leanFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  if (input instanceof Request) throw new TypeError('lean fetch: pass a URL, not a Request');
  const url = new URL(input);
  const headers = headerRecord(init.headers);
  const body = bodyOf(init.body);
  if (body !== undefined && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
    headers['content-type'] = init.body instanceof URLSearchParams ? 'application/x-www-form-urlencoded;charset=UTF-8' : 'text/plain;charset=UTF-8';
  }
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: init.method ?? 'GET', headers, agent, signal: init.signal ?? undefined }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        const responseHeaders = new Headers();
        const raw = response.rawHeaders;
        for (let index = 0; index < raw.length; index += 2) responseHeaders.append(raw[index]!, raw[index + 1]!);
        resolve(new Response(NULL_BODY_STATUSES.has(status) ? null : Buffer.concat(chunks), { status, statusText: response.statusMessage, headers: responseHeaders }));
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Runs `work` with the global fetch replaced by leanFetch, and puts Node's back afterwards. */
export async function withLeanFetch<T>(work: () => Promise<T>): Promise<T> {
  const nodeFetch = globalThis.fetch;
  globalThis.fetch = leanFetch as typeof fetch;
  try {
    return await work();
  } finally {
    globalThis.fetch = nodeFetch;
  }
}
