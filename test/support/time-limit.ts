import { setTimeout as delay } from 'node:timers/promises';

/**
 * The ways a test waits, each bounded: `within` for a promise that must settle in time (a
 * client's run, a flow), `eventually` for a fact with no promise to wait on, which is checked
 * again until it holds (a line the server logs once a response has finished, a file another
 * process writes).
 */

/** Waits `ms`: for a time that must pass (a token to expire), never for something to happen (use `eventually`). */
export function sleep(ms: number): Promise<void> {
  return delay(ms);
}

/** Rejects with a clear message if `promise` does not settle within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Retries `check` until it returns without throwing, or throws its last error once `timeoutMs` has passed. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
    }
    await delay(intervalMs);
  }
}
