import type { ConsentStore } from '../store.js';
import type { Db } from './database.js';

export function sqliteConsentStore(db: Db): ConsentStore {
  const find = db.prepare('SELECT scopes, granted_at FROM consents WHERE account_id = ? AND client_id = ?');
  const save = db.prepare(`
    INSERT INTO consents (account_id, client_id, scopes, granted_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`);
  const forgetAccount = db.prepare('DELETE FROM consents WHERE account_id = ?');
  const forgetClient = db.prepare('DELETE FROM consents WHERE client_id = ?');

  return {
    async find(accountId, clientId) {
      const row = find.get(accountId, clientId) as { scopes: string; granted_at: number } | undefined;
      if (!row) return undefined;
      return { accountId, clientId, scopes: row.scopes.split(' ').filter(Boolean), grantedAt: row.granted_at };
    },
    async save(consent) {
      save.run(consent.accountId, consent.clientId, consent.scopes.join(' '), consent.grantedAt);
    },
    async forgetAccount(accountId) {
      forgetAccount.run(accountId);
    },
    async forgetClient(clientId) {
      forgetClient.run(clientId);
    },
  };
}
