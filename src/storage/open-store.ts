import type { Config } from '../config.js';
import { createSqliteStore } from './sqlite/index.js';
import type { Store } from './store.js';

/** The one place a backend is chosen. SQLite under DATA_DIR is the embedded default. */
export function openStore(config: Pick<Config, 'dataDir' | 'storageBusyTimeout'>): Store {
  return createSqliteStore(config.dataDir, { busyTimeoutMs: config.storageBusyTimeout * 1000 });
}
