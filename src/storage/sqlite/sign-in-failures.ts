import type { AttemptVerdict, SignInFailureStore } from '../store.js';
import type { Db } from './database.js';

interface Row {
  failures: number;
  last_failure_at: number;
}

/** Failed sign-ins per key; each attempt is checked and counted in one write transaction. */
export function sqliteSignInFailureStore(db: Db): SignInFailureStore {
  const find = db.prepare('SELECT failures, last_failure_at FROM sign_in_failures WHERE key = ?');
  const record = db.prepare(`
    INSERT INTO sign_in_failures (key, failures, last_failure_at) VALUES (?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_failure_at = excluded.last_failure_at`);
  const clear = db.prepare('DELETE FROM sign_in_failures WHERE key = ?');
  const forget = db.prepare('DELETE FROM sign_in_failures WHERE last_failure_at < ?');

  const attempt = db.transaction((key: string, now: number, waitMs: (failures: number) => number, forgetAfterMs: number): AttemptVerdict => {
    const row = find.get(key) as Row | undefined;
    const failures = row && now - row.last_failure_at < forgetAfterMs ? row.failures : 0;
    if (row && failures > 0) {
      const retryAt = row.last_failure_at + waitMs(failures);
      if (now < retryAt) return { allowed: false, retryAt };
    }
    record.run(key, failures + 1, now);
    return { allowed: true };
  });

  return {
    async beginAttempt(key, now, policy) {
      // IMMEDIATE: two processes on one database cannot both read the same count.
      return attempt.immediate(key, now, (failures) => policy.waitMs(failures), policy.forgetAfterMs);
    },
    async succeeded(key) {
      clear.run(key);
    },
    async forgetBefore(before) {
      return forget.run(before).changes;
    },
  };
}
