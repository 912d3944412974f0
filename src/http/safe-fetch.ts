import type { LookupAddress } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { addressKind } from './address-kind.js';

/**
 * How this server fetches a URL that someone else chose (today: client ID metadata documents).
 * Anyone can make it fetch one, so every fetch must be unable to reach what only this server can
 * reach (SSRF), to hang, or to hand back more than asked for:
 * - https only, no credentials in the URL, GET only;
 * - the host name is resolved here (dnsResolver: c-ares, within the deadline, a family still
 *   unanswered 250 ms after the other brought addresses given up; `localhost` and `*.localhost`
 *   are loopback without asking), and if ANY address it resolves to is not public
 *   (loopback, private, link-local, CGNAT, unique-local, multicast, reserved, documentation, or an
 *   IPv4-mapped or NAT64 form of those) the fetch is refused before connecting;
 * - the connection goes to an address from that vetted answer and no other: the socket's lookup is
 *   pinned, so a second DNS answer (rebinding) cannot switch it. TLS still uses the host name for
 *   SNI and certificate verification, and it is the Host header;
 * - redirects are refused, not followed; so is a status outside 200–599, and any answer that cannot
 *   be read (nothing a hostile answer makes throw can escape a socket's event listener);
 * - a 2xx answer must be JSON (Content-Type) and at most `maxBytes`;
 * - the whole exchange, DNS query to last byte, has `timeoutMs`; a DNS query still unanswered then
 *   is cancelled.
 * Node's https module is used (not fetch) because it takes a `lookup` per request; it also trusts
 * NODE_EXTRA_CA_CERTS. Refusals and failures are FetchRefused errors: a kind fit to show anyone, a
 * message with the details for the operator's log, and the URL's host (never its path).
 */
export interface FetchPolicy {
  maxBytes: number;
  timeoutMs: number;
  /** TEST ONLY: loopback addresses may be fetched, so a test can serve a document on this machine. */
  allowLoopback?: boolean;
  /** Host name → addresses. Default: dnsResolver with `timeoutMs` and the system's DNS servers. */
  resolve?: Resolve;
  /** Trust anchors instead of the system's (tests); otherwise Node's store plus NODE_EXTRA_CA_CERTS. */
  ca?: string | Buffer;
}

/**
 * What went wrong, in categories that say nothing about this server's network: fit to show the
 * person who asked for the fetch. The message has the details (addresses, DNS answers, error
 * codes), for the operator's log only.
 */
export type RefusalKind =
  /** The URL or the addresses its name resolves to are not ones this server fetches from. */
  | 'address not allowed'
  /** DNS had no answer, or no connection (TLS included) could be made or kept. */
  | 'unreachable'
  | 'timeout'
  | 'redirect'
  /** Not a valid HTTP answer: a status outside 200–599, or one that cannot be read. */
  | 'invalid answer'
  | 'not JSON'
  | 'too large';

/** A fetch the policy refused, or one that failed; `kind` says why in general, the message in detail; `host` is the URL's host. */
export class FetchRefused extends Error {
  constructor(readonly host: string, readonly kind: RefusalKind, reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'FetchRefused';
  }
}

/** The parts of fetch's RequestInit this fetch honours (oidc-provider also passes options it ignores). */
export interface SafeFetchInit {
  method?: string;
  headers?: ConstructorParameters<typeof Headers>[0];
  signal?: AbortSignal | null;
}

export type SafeFetch = (input: string | URL, init?: SafeFetchInit) => Promise<Response>;

const JSON_CONTENT_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** Host name → addresses; `signal` aborts when the fetch gives up. */
export type Resolve = (hostname: string, signal: AbortSignal) => Promise<LookupAddress[]>;

/** RFC 6761 §6.3: these names are this machine whatever a DNS server says (c-ares does not read /etc/hosts). */
const LOCALHOST: readonly LookupAddress[] = [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }];
const isLocalhostName = (name: string) => /(^|\.)localhost\.?$/i.test(name);

/**
 * Once one family's query has brought addresses, how much longer the other one is waited for
 * (RFC 8305 §3 waits 50 ms for AAAA after A; a little more here, since what is given up is an
 * address, not a head start). A DNS server or middlebox that answers A and drops AAAA queries is
 * common, and without this every fetch would wait out the whole deadline.
 */
const OTHER_FAMILY_GRACE_MS = 250;

/**
 * Resolves with c-ares (dns.Resolver: A and AAAA queries, both asked), not getaddrinfo: c-ares
 * works on the event loop and its queries can be cancelled, while each dns.lookup holds one of
 * libuv's four threadpool threads (shared with scrypt and file I/O) for as long as the system
 * resolver waits, past any deadline of ours. A name with only A or only AAAA records is fine;
 * one for which neither query brings an address is refused. /etc/hosts is not read.
 *
 * When one query has brought addresses, the other gets OTHER_FAMILY_GRACE_MS more and is then
 * cancelled, and the fetch goes on with the addresses it has. The addresses that query would have
 * brought are never known, so one that is not public cannot refuse the fetch then; that is safe,
 * because the connection goes only to addresses that were vetted (pinnedLookup), and whoever
 * answers for the name could as well have left that address out. What the refusal of a name with
 * any non-public address protects against, connecting to one, cannot happen either way.
 */
export function dnsResolver(options: { timeoutMs: number; servers?: string[] }): Resolve {
  return async (hostname, signal) => {
    // A resolver per family: cancelling one query must leave the other.
    const resolvers = [4, 6].map(() => {
      const resolver = new Resolver({ timeout: options.timeoutMs, tries: 1 });
      if (options.servers) resolver.setServers(options.servers);
      return resolver;
    }) as [Resolver, Resolver];
    const cancel = () => resolvers.forEach((resolver) => resolver.cancel());
    signal.addEventListener('abort', cancel, { once: true });
    let grace: NodeJS.Timeout | undefined;
    const graceOnceAnswered = (addresses: string[]) => {
      if (addresses.length > 0) grace ??= setTimeout(cancel, OTHER_FAMILY_GRACE_MS);
      return addresses;
    };
    try {
      const [v4, v6] = await Promise.allSettled([resolvers[0].resolve4(hostname).then(graceOnceAnswered), resolvers[1].resolve6(hostname).then(graceOnceAnswered)]);
      const addresses = [
        ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
        ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
      ];
      if (addresses.length > 0) return addresses;
      const code = (result: PromiseSettledResult<string[]>) => (result.status === 'rejected' ? (result.reason as { code?: string }).code ?? 'DNS error' : 'no address');
      throw Object.assign(new Error(`no address for ${hostname}`), { code: `A: ${code(v4)}, AAAA: ${code(v6)}` });
    } finally {
      clearTimeout(grace);
      signal.removeEventListener('abort', cancel);
    }
  };
}

export function safeFetch(policy: FetchPolicy): SafeFetch {
  const resolve = policy.resolve ?? dnsResolver({ timeoutMs: policy.timeoutMs });

  /** The addresses `hostname` may be reached at, all of them vetted; throws if any is not allowed. */
  const vetted = async (hostname: string, host: string, signal: AbortSignal): Promise<LookupAddress[]> => {
    const literal = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    const family = isIP(literal);
    let addresses: readonly LookupAddress[];
    if (family !== 0) {
      addresses = [{ address: literal, family }];
    } else if (isLocalhostName(literal)) {
      addresses = LOCALHOST;
    } else {
      try {
        addresses = await resolve(literal, signal);
      } catch (error) {
        throw new FetchRefused(host, 'unreachable', `cannot resolve ${literal} (${(error as { code?: string }).code ?? 'DNS error'})`, { cause: error });
      }
    }
    if (addresses.length === 0) throw new FetchRefused(host, 'unreachable', `${literal} resolves to no address`);
    for (const { address } of addresses) {
      const kind = addressKind(address);
      if (kind === 'public' || (kind === 'loopback' && policy.allowLoopback)) continue;
      const subject = address === literal ? address : `${literal} resolves to ${address}, which`;
      throw new FetchRefused(host, 'address not allowed', `${subject} is not a public address (${kind})`);
    }
    return [...addresses];
  };

  return async (input, init = {}) => {
    const url = new URL(input);
    const host = url.host;
    if (url.protocol !== 'https:') throw new FetchRefused(host, 'address not allowed', `only https URLs are fetched, not ${url.protocol}`);
    if (url.username || url.password) throw new FetchRefused(host, 'address not allowed', 'URLs with credentials are not fetched');
    const method = (init.method ?? 'GET').toUpperCase();
    if (method !== 'GET') throw new FetchRefused(host, 'address not allowed', `only GET requests are made, not ${method}`);

    const deadline = AbortSignal.timeout(policy.timeoutMs);
    const signal = init.signal ? AbortSignal.any([deadline, init.signal]) : deadline;
    const aborted = () => new FetchRefused(host, 'timeout', deadline.aborted ? `no complete answer within ${policy.timeoutMs} ms` : 'no complete answer in the time the caller allowed', { cause: signal.reason });
    if (signal.aborted) throw aborted();
    let stop: (() => void) | undefined;
    const gaveUp = new Promise<never>((_, reject) => {
      stop = () => reject(aborted());
      signal.addEventListener('abort', stop, { once: true });
    });
    try {
      const addresses = await Promise.race([vetted(url.hostname, host, signal), gaveUp]);
      return await Promise.race([get(url, addresses, requestHeaders(init.headers), signal, policy), gaveUp]);
    } finally {
      signal.removeEventListener('abort', stop!);
      gaveUp.catch(() => undefined);
    }
  };
}

function requestHeaders(init: ConstructorParameters<typeof Headers>[0]): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json' };
  // Empty values (oidc-provider sends `user-agent: ''` to say nothing about itself) are left out.
  new Headers(init).forEach((value, name) => {
    if (value !== '') headers[name] = value;
  });
  return headers;
}

/** The socket's address lookup, answered from the vetted list: no second DNS query is made. */
function pinnedLookup(addresses: LookupAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const usable = options.family ? addresses.filter((entry) => entry.family === options.family) : addresses;
    if (usable.length === 0) {
      callback(Object.assign(new Error('no vetted address of the requested family'), { code: 'ENOTFOUND' }), '', 0);
    } else if (options.all) {
      callback(null, usable);
    } else {
      callback(null, usable[0]!.address, usable[0]!.family);
    }
  };
}

function get(url: URL, addresses: LookupAddress[], headers: Record<string, string>, signal: AbortSignal, policy: FetchPolicy): Promise<Response> {
  const host = url.host;
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return new Promise<Response>((resolve, reject) => {
    const request = https.request({
      host: hostname,
      port: url.port || 443,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers,
      // A fresh connection per fetch: a pooled socket could lead to an address vetted for another name.
      agent: false,
      lookup: pinnedLookup(addresses),
      servername: isIP(hostname) === 0 ? hostname : undefined,
      ca: policy.ca,
      signal,
    });
    const fail = (kind: RefusalKind, reason: string, cause?: unknown) => {
      const error = new FetchRefused(host, kind, reason, { cause });
      reject(error);
      request.destroy(error);
    };
    // Listeners run on the socket's events: an exception thrown there would be uncaught and end the
    // process. Whatever a hostile answer makes throw (a Response constructor, a header) is a refusal.
    const guarded = <A extends unknown[]>(listener: (...args: A) => void) => (...args: A) => {
      try {
        listener(...args);
      } catch (error) {
        fail('invalid answer', `answer could not be read (${error instanceof Error ? error.message : String(error)})`, error);
      }
    };
    request.on('error', (error: Error & { code?: string }) => {
      reject(error instanceof FetchRefused ? error : new FetchRefused(host, 'unreachable', `request failed (${error.code ?? error.message})`, { cause: error }));
    });
    request.on('response', guarded((response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      // Node's parser takes any three digits; a Response holds 200–599 only (1xx never gets here).
      if (status < 200 || status > 599) {
        fail('invalid answer', `answered with HTTP status ${status}, which is not a valid status`);
        return;
      }
      if (status >= 300 && status < 400) {
        fail('redirect', `answered with a redirect (HTTP ${status}); redirects are not followed`);
        return;
      }
      // The reason phrase is not passed on: nothing reads it, and it is the site's free text.
      const responseHeaders = headersOf(response);
      if (status >= 400) {
        // The caller only needs the status; the body is not read.
        response.destroy();
        resolve(new Response(null, { status, headers: responseHeaders }));
        return;
      }
      const type = responseHeaders.get('content-type') ?? '';
      if (!JSON_CONTENT_TYPE.test(type)) {
        fail('not JSON', `answered with content type "${type.slice(0, 100)}", not JSON`);
        return;
      }
      const declared = Number(responseHeaders.get('content-length') ?? 0);
      if (declared > policy.maxBytes) {
        fail('too large', `answer of ${declared} bytes is over the ${policy.maxBytes}-byte limit`);
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      response.on('data', guarded((chunk: Buffer) => {
        received += chunk.length;
        if (received > policy.maxBytes) fail('too large', `answer is over the ${policy.maxBytes}-byte limit`);
        else chunks.push(chunk);
      }));
      response.on('end', guarded(() => {
        const body = status === 204 || status === 205 ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status, headers: responseHeaders }));
      }));
      response.on('error', (error) => reject(new FetchRefused(host, 'unreachable', `answer cut off (${error.message})`, { cause: error })));
    }));
    request.end();
  });
}

function headersOf(response: IncomingMessage): Headers {
  const headers = new Headers();
  for (let index = 0; index + 1 < response.rawHeaders.length; index += 2) {
    try {
      headers.append(response.rawHeaders[index]!, response.rawHeaders[index + 1]!);
    } catch {
      // A header a WHATWG Headers object cannot hold is not one this server reads.
    }
  }
  return headers;
}
