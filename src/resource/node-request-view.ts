import type { IncomingMessage } from 'node:http';

/**
 * Headers whose repeats Node's parser drops from `req.headers` (it keeps the first); a web `Headers`
 * joins every value, so these are read from `rawHeaders` to answer as the SDK's bridge did (a
 * request with two Content-Types is not JSON).
 */
const FIRST_ONLY = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

/**
 * The reading half of a web `Headers` over a Node request, built on demand: the transport reads a
 * few headers per request, and materialising a `Headers` (as the SDK's Node bridge does for
 * `entries()`) costs more than the lookups. Reads `req.headers` as it is when asked, so what
 * earlier handlers changed there (the tolerated `Accept`, the withheld token) is what the transport sees.
 */
class IncomingHeaders {
  readonly #req: IncomingMessage;

  constructor(req: IncomingMessage) {
    this.#req = req;
  }

  get(name: string): string | null {
    const lower = name.toLowerCase();
    if (FIRST_ONLY.has(lower)) return this.#joinedRaw(lower);
    const value = this.#req.headers[lower];
    if (value === undefined) return null;
    return typeof value === 'string' ? value : value.join(', ');
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }

  /** Sorted by name, one entry per name, as `Headers` iterates. */
  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.#req.headers).sort()) {
      const value = this.get(name);
      if (value !== null) yield [name, value];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  forEach(callback: (value: string, name: string, headers: this) => void): void {
    for (const [name, value] of this.entries()) callback(value, name, this);
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  #joinedRaw(lower: string): string | null {
    const raw = this.#req.rawHeaders;
    if (!(lower in this.#req.headers)) return null;
    let joined: string | null = null;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.length === lower.length && raw[i]!.toLowerCase() === lower) joined = joined === null ? raw[i + 1]! : `${joined}, ${raw[i + 1]!}`;
    }
    return joined;
  }
}

/**
 * What the SDK's web-standard transport reads of a `Request` (method, url, headers; the body only
 * when none was parsed, and ours always is by then), over a Node request, without building an
 * undici `Request`. The SDK pins which members it reads (1.32.2); the conformance scenarios and
 * the client tests exercise every path through it (POST, GET with and without Last-Event-ID, DELETE).
 */
export function requestView(req: IncomingMessage): Request {
  const host = req.headers.host ?? 'localhost';
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  const view = {
    method: req.method ?? 'GET',
    url: `${scheme}://${host}${req.url ?? '/'}`,
    headers: new IncomingHeaders(req),
    // The body was read by our body parser; a POST without one reads as empty, which the transport refuses as invalid JSON.
    body: null,
  };
  return view as unknown as Request;
}
