import { setTimeout as delay } from 'node:timers/promises';

/**
 * Retries `check` until it returns without throwing, or throws its last error once `timeoutMs` has
 * passed. For facts that arrive a moment after the action that caused them: a line the server
 * logs when a response finishes, a file another process writes.
 */
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
