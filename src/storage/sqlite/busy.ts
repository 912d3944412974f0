import { setTimeout as delay } from 'node:timers/promises';
import { StorageBusyError } from '../../errors.js';

/**
 * SQLITE_BUSY handling: another process holds the write lock (WAL lets readers through, so it is
 * writes that meet it). better-sqlite3 is synchronous, and SQLite's own busy_timeout sleeps inside
 * the call: a 5 s busy_timeout would freeze the whole event loop (every request, /healthz too) for
 * as long as the lock is held. So the connection blocks only briefly (database.ts) and the wait
 * happens here, between attempts, off the event loop.
 */

/** First pause between attempts; doubled each time up to MAX_PAUSE_MS. */
const FIRST_PAUSE_MS = 5;
const MAX_PAUSE_MS = 100;

/** SQLITE_BUSY and its extended codes (BUSY_SNAPSHOT, BUSY_RECOVERY, BUSY_TIMEOUT). */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'));
}

/**
 * Runs `work` (one statement or one transaction: SQLite undid it whole if it failed busy) until it
 * is not refused for SQLITE_BUSY; after `boundMs` of refusals, throws StorageBusyError.
 */
export async function retryWhileBusy<T>(work: () => T | Promise<T>, boundMs: number): Promise<T> {
  const started = Date.now();
  for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
    try {
      return await work();
    } catch (error) {
      if (!isBusy(error)) throw error;
      const waited = Date.now() - started;
      if (waited >= boundMs) throw new StorageBusyError(waited, Math.max(1, Math.ceil(boundMs / 1000)), { cause: error });
      await delay(Math.min(pause, boundMs - waited));
    }
  }
}

/**
 * The same store with every method retried while busy. Each store method is one statement, one
 * transaction, or reads and a conflict-ignoring insert, so running it again after SQLITE_BUSY
 * repeats nothing that took effect.
 *
 * The first attempt runs at once and, when it is not refused, is the answer as the method gave it:
 * no extra promise for a call that was not busy (almost every call), and a synchronous method
 * (findAccessToken) stays synchronous. Only a refused one becomes a promise of the retries.
 */
export function retryingWhileBusy<T extends object>(store: T, boundMs: number): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(store)) {
    if (typeof member !== 'function') {
      wrapped[name] = member;
      continue;
    }
    wrapped[name] = (...args: unknown[]) => {
      const attempt = () => (member as (...a: unknown[]) => unknown).apply(store, args);
      const retry = (error: unknown) => {
        if (!isBusy(error)) throw error;
        return retryWhileBusy(attempt, boundMs);
      };
      let result: unknown;
      try {
        result = attempt();
      } catch (error) {
        return retry(error);
      }
      return result instanceof Promise ? result.catch(retry) : result;
    };
  }
  return wrapped as T;
}
