import path from 'node:path';
import type { Store } from '../store.js';
import { retryingWhileBusy } from './busy.js';
import { BackgroundCheckpointer, type CheckpointerOptions } from './checkpointer.js';
import { sqliteConsentStore } from './consents.js';
import { DATABASE_FILE, openDatabase } from './database.js';
import { sqliteModelStore } from './models.js';
import { sqliteSecretStore } from './secrets.js';
import { sqliteSignInFailureStore } from './sign-in-failures.js';
import { sqliteUpstreamIdentityStore } from './upstream-identities.js';
import { sqliteUpstreamStateStore } from './upstream-states.js';
import { sqliteUserStore } from './users.js';

export interface SqliteStoreOptions {
  /** How long a write waits for another process's lock before StorageBusyError (STORAGE_BUSY_TIMEOUT). */
  busyTimeoutMs?: number;
  /** The checkpoint thread's timings (tests); `false` leaves checkpoints to SQLite on the server's connection. */
  checkpointer?: CheckpointerOptions | false;
  /** Told if the checkpoint thread fails (the server's connection then checkpoints again). */
  onCheckpointerFailure?: (message: string) => void;
}

/** SQLite's own default: a checkpoint once the WAL holds this many pages. */
const SQLITE_AUTOCHECKPOINT_PAGES = 1000;
/** What a WAL file is trimmed back to when it starts over (SQLite's default WAL is about this size). */
const WAL_SIZE_KEPT_BYTES = 4 * 1024 * 1024;

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/** The embedded backend: one SQLite file under the data directory. */
export function createSqliteStore(dataDir: string, options: SqliteStoreOptions = {}): Store & { checkpointer?: BackgroundCheckpointer } {
  const db = openDatabase(dataDir);
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  // Checkpoints off the event loop (checkpointer.ts); the server's connection only appends.
  let checkpointer: BackgroundCheckpointer | undefined;
  if (options.checkpointer !== false) {
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`journal_size_limit = ${WAL_SIZE_KEPT_BYTES}`);
    checkpointer = new BackgroundCheckpointer(path.join(dataDir, DATABASE_FILE), (message) => {
      if (db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`);
      options.onCheckpointerFailure?.(message);
    }, options.checkpointer);
  }
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
    checkpointer,
    async close() {
      await checkpointer?.close();
      if (db.open) db.close();
    },
  };
}
