import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { cachingAccessTokens } from './access-token-cache.js';
import { createSqliteStore } from './sqlite/index.js';
import type { Store } from './store.js';

/**
 * The one place a backend is chosen. SQLite under DATA_DIR is the embedded default. A short-lived
 * process (`npm run user`) passes `checkpointer: false`: SQLite's own checkpoints are enough there.
 */
export function openStore(config: Pick<Config, 'dataDir' | 'storageBusyTimeout'>, log?: Logger, options: { checkpointer?: false } = {}): Store {
  const store = createSqliteStore(config.dataDir, {
    busyTimeoutMs: config.storageBusyTimeout * 1000,
    ...options,
    onCheckpointerFailure: (message) => log?.warn('storage.checkpoint_thread_failed', { error: message, now: 'checkpoints run on the main thread' }),
  });
  return { ...store, models: cachingAccessTokens(store.models) };
}
