import type { BackoffPolicy, SignInFailureStore } from '../storage/store.js';
import { normalizeUsername } from './accounts.js';

export interface SignInBackoffOptions {
  /** Wrong passwords for one username before each further one makes the next attempt wait. */
  freeFailures: number;
  /** The wait doubles from 1 s with each further failure, up to this. */
  maxWaitMs: number;
}

const FIRST_WAIT_MS = 1000;

/**
 * Per-account brute-force protection, whichever address the attempts come from: after
 * `freeFailures` wrong passwords for a username, each further attempt waits 1 s, 2 s, 4 s … up to
 * `maxWaitMs` after the latest failure. Attempts during the wait are refused before the password is
 * checked, and do not lengthen it, so the real user waits at most `maxWaitMs` after an attacker's
 * last guess. The key is the name as typed (normalized), whether or not such an account exists, so
 * an unknown name backs off exactly like a known one.
 */
export class SignInBackoff {
  readonly #policy: BackoffPolicy;

  constructor(private readonly failures: SignInFailureStore, options: SignInBackoffOptions) {
    this.#policy = {
      waitMs: (count) => waitAfter(count, options),
      // Once the longest wait has long passed without a failure, the count starts again.
      forgetAfterMs: Math.max(24 * 3600_000, 4 * options.maxWaitMs),
    };
  }

  /**
   * Called before the password is checked: undefined when it may be checked (the attempt is counted
   * as a failure until `succeeded`), else the seconds to wait.
   */
  async begin(username: string, now = Date.now()): Promise<number | undefined> {
    const verdict = await this.failures.beginAttempt(normalizeUsername(username), now, this.#policy);
    return verdict.allowed ? undefined : Math.max(1, Math.ceil((verdict.retryAt - now) / 1000));
  }

  async succeeded(username: string): Promise<void> {
    await this.failures.succeeded(normalizeUsername(username));
  }

  /** Drops counts nobody has added to for longer than they are remembered. */
  async sweep(now = Date.now()): Promise<number> {
    return this.failures.forgetBefore(now - this.#policy.forgetAfterMs);
  }
}

/** The wait after `failures` failures: none for the free ones, then 1 s doubling to the cap. */
export function waitAfter(failures: number, options: SignInBackoffOptions): number {
  if (failures < options.freeFailures) return 0;
  const doublings = Math.min(failures - options.freeFailures, 40);
  return Math.min(FIRST_WAIT_MS * 2 ** doublings, options.maxWaitMs);
}
