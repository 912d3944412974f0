import { setImmediate as nextTurn } from 'node:timers/promises';
import type { SignInBackoff } from './authorization/sign-in-backoff.js';
import type { Logger } from './log.js';
import type { Store } from './storage/store.js';

export interface HousekeepingOptions {
  store: Store;
  signInBackoff: SignInBackoff;
  log: Logger;
  /** Dynamically registered clients never used for a grant are deleted this long after registering. */
  unusedRegistrationTtlMs: number;
}

const SWEEP_EVERY_MS = 10 * 60_000;
/** Deleted per transaction, so a large backlog never holds the database (or the event loop) for long. */
const CLIENT_BATCH = 500;

/**
 * Periodic clean-up of storage: expired models and upstream sign-in states, registrations nobody ever used, forgotten sign-in
 * failures. Runs once at start-up (so a restart after a long pause does not serve stale
 * registrations), then on a timer that does not keep the process alive.
 */
export async function startHousekeeping(options: HousekeepingOptions): Promise<{ stop(): void }> {
  const { store, signInBackoff, log, unusedRegistrationTtlMs } = options;
  const sweep = async () => {
    const now = Date.now();
    await store.models.deleteExpired(now);
    await store.upstreamStates.deleteExpired(now);
    await signInBackoff.sweep(now);
    let deleted = 0;
    for (;;) {
      const ids = await store.models.deleteUnusedClients(now - unusedRegistrationTtlMs, CLIENT_BATCH);
      deleted += ids.length;
      if (ids.length < CLIENT_BATCH) break;
      await nextTurn();
    }
    if (deleted > 0) log.info('clients.unused_deleted', { count: deleted });
  };
  const guarded = () => sweep().catch((error: unknown) => log.error('storage.sweep_failed', { error }));
  await guarded();
  // A short TTL (tests) is honoured within half of it; the usual day-long one every 10 minutes.
  const timer = setInterval(guarded, Math.max(1000, Math.min(SWEEP_EVERY_MS, unusedRegistrationTtlMs / 2)));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
