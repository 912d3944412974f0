import type { AccessTokenFacts, MaybePromise, ModelStore } from './store.js';

/**
 * How long a token found in storage is taken on its word without asking again. This bounds how
 * long a revocation made by ANOTHER process (`npm run user passwd` on the same data directory,
 * a second server instance) can go unnoticed here. A revocation or any other change made through
 * this process clears every entry at once, so it is never late.
 */
export const ACCESS_TOKEN_RECHECK_MS = 250;
/** Entries kept at most; past it they are all dropped (a token is only ever one lookup away). */
const MAX_ENTRIES = 10_000;

/** The ModelStore methods that read; every other one writes, and clears the cache. */
const READS = new Set<string>(['find', 'findByUid', 'findByUserCode', 'findAccessToken']);

/**
 * The model store with the bearer check's lookups remembered for ACCESS_TOKEN_RECHECK_MS. Each
 * lookup in SQLite starts a read transaction, which takes and releases a lock on its shared-memory
 * index (two system calls): on a loaded server that was the largest part of the bearer check, which
 * runs on every MCP request. Only tokens that were found are remembered (a stream of made-up tokens
 * fills nothing), and the check of what a token says (expiry, audience, account) still runs on
 * every request (resource/bearer.ts).
 */
export function cachingAccessTokens(models: ModelStore, recheckMs = ACCESS_TOKEN_RECHECK_MS, now: () => number = Date.now): ModelStore {
  const found = new Map<string, { facts: AccessTokenFacts; until: number }>();
  /** Bumped by every write: a lookup that was under way meanwhile must not remember what it read. */
  let generation = 0;
  const forgetAll = () => {
    generation += 1;
    found.clear();
  };
  const remember = (id: string, facts: AccessTokenFacts | undefined, startedIn: number) => {
    if (facts === undefined || startedIn !== generation) return facts;
    if (found.size >= MAX_ENTRIES) found.clear();
    found.set(id, { facts, until: now() + recheckMs });
    return facts;
  };

  const wrapped: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(models)) {
    if (typeof member !== 'function') wrapped[name] = member;
    else if (READS.has(name)) wrapped[name] = (member as (...args: unknown[]) => unknown).bind(models);
    else {
      wrapped[name] = async (...args: unknown[]) => {
        forgetAll();
        try {
          return await (member as (...a: unknown[]) => Promise<unknown>).apply(models, args);
        } finally {
          // What a lookup read while the write was waiting (busy) is not kept either.
          forgetAll();
        }
      };
    }
  }
  wrapped.findAccessToken = (id: string): MaybePromise<AccessTokenFacts | undefined> => {
    const entry = found.get(id);
    if (entry !== undefined) {
      if (entry.until > now()) return entry.facts;
      found.delete(id);
    }
    const startedIn = generation;
    const answer = models.findAccessToken(id);
    return answer instanceof Promise ? answer.then((facts) => remember(id, facts, startedIn)) : remember(id, answer, startedIn);
  };
  return wrapped as unknown as ModelStore;
}
