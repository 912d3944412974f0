import { ipKeyGenerator, MemoryStore, type Options as RateLimitOptions } from 'express-rate-limit';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { FetchRefused, type SafeFetch, type SafeFetchInit } from '../http/safe-fetch.js';
import type { Logger } from '../log.js';
import { isLoopbackHostname } from '../loopback.js';
import { TryLater } from './try-later.js';

export interface DocumentFetchLimits {
  /** Document fetches in progress at once, for the whole server; past it, a new one is refused (503). */
  concurrent: number;
  /** Document fetches per client address per minute; past it, refused (429). */
  perAddressPerMinute: number;
  /**
   * What a fetch came to (a failure, an HTTP status, a document) answers the same URL for this
   * long, for this many URLs: oidc-provider caches only the documents it can use.
   */
  memory: { ms: number; entries: number };
}

export interface DocumentFetchOptions {
  /** This server's public origin: documents on its host are not fetched. */
  publicUrl: string;
  /** TEST ONLY (TEST_ONLY_CIMD_ALLOW_LOOPBACK): documents on loopback hosts may use any port. */
  allowLoopback: boolean;
  limits: DocumentFetchLimits;
  /** How a document is fetched once admitted (safe-fetch.ts). */
  fetch: SafeFetch;
  log: Logger;
}

/** What one fetch of a URL came to, until when it answers that URL again. */
interface Outcome {
  until: number;
  /** What safe-fetch threw, or its answer (the body of a 200 only: nothing reads another's). */
  result: Error | { status: number; headers: Headers; body: Uint8Array | null };
}

const WINDOW_MS = 60_000;

/**
 * Which client metadata documents this server fetches, and the fetching. Anyone can name any URL
 * as a client_id, so each fetch is one an anonymous request made the server do; what keeps that
 * from being an open relay or an amplifier:
 * - `allowFetch` (oidc-provider's hook, run before each fetch of a document not in its cache)
 *   refuses URLs with a query string, on a port other than 443, or on this server's own host (a
 *   client_id naming this server's /auth with another client_id in its query nested hundreds of
 *   self-fetches), then takes one of the places for fetches in progress (a server-wide cap,
 *   refused rather than queued) and counts the admitted fetch against the client's address (a
 *   minute's budget; once per request, and a refused request not at all);
 * - `fetch` (oidc-provider's `fetch`, which it uses for every outbound request) fetches only a URL
 *   `allowFetch` admitted just before: nothing else (a jwks_uri, a sector_identifier_uri) ever
 *   leaves the server through it;
 * - what a fetch came to is answered from memory for a while, whatever it was: oidc-provider
 *   caches only a document it could use, and looks a client up again when a request fails, so a
 *   site that is down, or serves a document that is refused, would otherwise be fetched twice per
 *   request naming it.
 * An admission is claimed synchronously: oidc-provider calls `fetch` in the same turn that its
 * `await allowFetch(…)` resumes, so one not claimed by the next event-loop turn is released.
 */
export class DocumentFetches {
  /** Admitted URLs, reserved by allowFetch and then fetching: each holds one of `limits.concurrent` places. */
  readonly #slots = new Map<string, { fetching: boolean }>();
  /** Admitted URLs answered from memory (no place, no count). */
  readonly #fromMemory = new Map<string, Outcome>();
  readonly #outcomes = new Map<string, Outcome>();
  /**
   * Fetches per client address this minute: express-rate-limit's store and keys, as the other
   * per-address limits (rate-limit.ts) use them, so an IPv6 client counts by its /56 and cannot
   * get a new budget per address of its /64. Expired counts go in bulk, never by a scan per fetch.
   */
  readonly #perAddress = new MemoryStore();
  /** Requests (oidc-provider's context of each) already counted against their address. */
  readonly #counted = new WeakSet<KoaContextWithOIDC>();

  constructor(private readonly options: DocumentFetchOptions) {
    // The store reads nothing of the options but the window.
    this.#perAddress.init({ windowMs: WINDOW_MS } as RateLimitOptions);
  }

  readonly allowFetch = async (ctx: KoaContextWithOIDC | undefined, clientId: string): Promise<boolean> => {
    const refusal = this.#urlRefusal(clientId);
    if (refusal) throw new errors.InvalidClient(`client_id metadata document URLs ${refusal} are not fetched`);
    const remembered = this.#outcomes.get(clientId);
    if (remembered && remembered.until > Date.now()) {
      this.#fromMemory.set(clientId, remembered);
      this.#releaseUnclaimed(this.#fromMemory, clientId, remembered);
      return true;
    }
    // A fetch of this document is already under way: oidc-provider waits for that one.
    if (this.#slots.has(clientId)) return true;
    if (this.#slots.size >= this.options.limits.concurrent) {
      TryLater.refuse(ctx, 'too many client_id metadata documents are being fetched at once; try again in a few seconds', 503, 3);
    }
    // The place is taken before the address is counted, so the cap holds while the count is awaited
    // (MemoryStore answers without I/O: no other request runs in between anyway).
    const slot = { fetching: false };
    this.#slots.set(clientId, slot);
    try {
      // No request (a page of ours looking the client up again): no address to count against.
      if (ctx) await this.#countAgainst(ctx);
    } catch (error) {
      if (this.#slots.get(clientId) === slot && !slot.fetching) this.#slots.delete(clientId);
      throw error;
    }
    this.#releaseUnclaimed(this.#slots, clientId, slot);
    return true;
  };

  readonly fetch = async (url: string, init?: SafeFetchInit): Promise<Response> => {
    const { log } = this.options;
    const host = URL.parse(url)?.host ?? 'invalid URL';
    const remembered = this.#fromMemory.get(url)?.result;
    if (remembered) {
      this.#fromMemory.delete(url);
      if (remembered instanceof Error) throw remembered;
      return new Response(remembered.body?.slice() ?? null, remembered);
    }
    const slot = this.#slots.get(url);
    if (!slot || slot.fetching) {
      log.error('outbound_fetch.refused', { host, reason: 'not a client metadata document admitted by allowFetch' });
      throw new FetchRefused(host, 'address not allowed', 'this server fetches nothing but client metadata documents it admitted');
    }
    slot.fetching = true;
    let response: Response;
    try {
      response = await this.options.fetch(url, init);
    } catch (error) {
      const refusal = error instanceof Error ? error : new Error(String(error));
      log.warn('client_metadata.fetch_refused', { host, reason: refusal.message });
      this.#remember(url, refusal);
      throw refusal;
    } finally {
      this.#slots.delete(url);
    }
    if (response.status !== 200) {
      log.warn('client_metadata.fetch_refused', { host, reason: `HTTP ${response.status}` });
      this.#remember(url, { status: response.status, headers: response.headers, body: null });
      return response;
    }
    log.info('client_metadata.fetched', { host });
    // safe-fetch has the whole body already (at most its byte limit).
    const answer = { status: 200, headers: response.headers, body: new Uint8Array(await response.arrayBuffer()) };
    this.#remember(url, answer);
    return new Response(answer.body.slice(), answer);
  };

  /** Why a document URL is not fetched at all ("with a query string" …), or undefined. */
  #urlRefusal(clientId: string): string | undefined {
    const url = URL.parse(clientId);
    if (!url) return 'that cannot be parsed';
    if (clientId.includes('?')) return 'with a query string';
    const own = new URL(this.options.publicUrl);
    // Tests serve documents on this machine, on other ports of the server's own loopback name.
    const loopbackTest = this.options.allowLoopback && isLoopbackHostname(url.hostname);
    const bare = (hostname: string) => hostname.replace(/\.$/, '');
    if (loopbackTest ? url.host === own.host : bare(url.hostname) === bare(own.hostname)) return 'on this server\'s own host';
    if (url.port !== '' && !loopbackTest) return 'on a port other than 443';
    return undefined;
  }

  /**
   * Counts an admitted fetch against the request's address for this minute, once per request
   * (oidc-provider's error handler looks a client up a second time); refuses (429) past the budget.
   */
  async #countAgainst(ctx: KoaContextWithOIDC): Promise<void> {
    if (this.#counted.has(ctx)) return;
    const key = ipKeyGenerator(ctx.ip);
    const { totalHits, resetTime } = await this.#perAddress.increment(key);
    if (totalHits > this.options.limits.perAddressPerMinute) {
      // Only fetches count, and a refused request is none.
      await this.#perAddress.decrement(key);
      const seconds = Math.max(1, Math.ceil(((resetTime?.getTime() ?? Date.now() + WINDOW_MS) - Date.now()) / 1000));
      TryLater.refuse(ctx, `too many client_id metadata document fetches from your address; try again in ${seconds} s`, 429, seconds);
    }
    this.#counted.add(ctx);
  }

  /** An admission lapses at the next event-loop turn unless `fetch` is fetching it by then. */
  #releaseUnclaimed<T extends object>(admissions: Map<string, T>, url: string, admission: T): void {
    setImmediate(() => {
      if (admissions.get(url) === admission && !(admission as { fetching?: boolean }).fetching) admissions.delete(url);
    });
  }

  #remember(url: string, result: Outcome['result']): void {
    const { entries, ms } = this.options.limits.memory;
    this.#outcomes.delete(url);
    if (this.#outcomes.size >= entries) this.#outcomes.delete(this.#outcomes.keys().next().value!);
    this.#outcomes.set(url, { until: Date.now() + ms, result });
  }
}
