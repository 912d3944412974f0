import type { Store } from '../store.js';
import { retryingWhileBusy } from './busy.js';
import { sqliteConsentStore } from './consents.js';
import { openDatabase } from './database.js';
import { sqliteModelStore } from './models.js';
import { sqliteSecretStore } from './secrets.js';
import { sqliteSignInFailureStore } from './sign-in-failures.js';
import { sqliteUpstreamIdentityStore } from './upstream-identities.js';
import { sqliteUpstreamStateStore } from './upstream-states.js';
import { sqliteUserStore } from './users.js';

export interface SqliteStoreOptions {
  /** How long a write waits for another process's lock before StorageBusyError (STORAGE_BUSY_TIMEOUT). */
  busyTimeoutMs?: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/** The embedded backend: one SQLite file under the data directory. */
export function createSqliteStore(dataDir: string, options: SqliteStoreOptions = {}): Store {
  const db = openDatabase(dataDir);
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  return {
    models: retryingWhileBusy(sqliteModelStore(db), busyTimeoutMs),
    users: retryingWhileBusy(sqliteUserStore(db), busyTimeoutMs),
    consents: retryingWhileBusy(sqliteConsentStore(db), busyTimeoutMs),
    secrets: retryingWhileBusy(sqliteSecretStore(db), busyTimeoutMs),
    signInFailures: retryingWhileBusy(sqliteSignInFailureStore(db), busyTimeoutMs),
    upstreamIdentities: retryingWhileBusy(sqliteUpstreamIdentityStore(db), busyTimeoutMs),
    upstreamStates: retryingWhileBusy(sqliteUpstreamStateStore(db), busyTimeoutMs),
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
