import type { Store } from '../store.js';
import { sqliteConsentStore } from './consents.js';
import { openDatabase } from './database.js';
import { sqliteModelStore } from './models.js';
import { sqliteSecretStore } from './secrets.js';
import { sqliteSignInFailureStore } from './sign-in-failures.js';
import { sqliteUserStore } from './users.js';

/** The embedded backend: one SQLite file under the data directory. */
export function createSqliteStore(dataDir: string): Store {
  const db = openDatabase(dataDir);
  return {
    models: sqliteModelStore(db),
    users: sqliteUserStore(db),
    consents: sqliteConsentStore(db),
    secrets: sqliteSecretStore(db),
    signInFailures: sqliteSignInFailureStore(db),
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
