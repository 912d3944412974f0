import type { Consent, ConsentStore } from '../store.js';
import type { Db } from './database.js';

export function sqliteConsentStore(db: Db): ConsentStore {
  const find = db.prepare('SELECT scopes, granted_at, client_fingerprint FROM consents WHERE account_id = ? AND client_id = ?');
  const save = db.prepare(`
    INSERT INTO consents (account_id, client_id, scopes, granted_at, client_fingerprint) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at, client_fingerprint = excluded.client_fingerprint`);
  const forgetAccount = db.prepare('DELETE FROM consents WHERE account_id = ?');
  const forgetClient = db.prepare('DELETE FROM consents WHERE client_id = ?');

  return {
    async find(accountId, clientId) {
      const row = find.get(accountId, clientId) as { scopes: string; granted_at: number; client_fingerprint: string | null } | undefined;
      if (!row) return undefined;
      const consent: Consent = { accountId, clientId, scopes: row.scopes.split(' ').filter(Boolean), grantedAt: row.granted_at };
      if (row.client_fingerprint !== null) consent.clientFingerprint = JSON.parse(row.client_fingerprint) as Record<string, unknown>;
      return consent;
    },
    async save(consent) {
      save.run(consent.accountId, consent.clientId, consent.scopes.join(' '), consent.grantedAt, consent.clientFingerprint ? JSON.stringify(consent.clientFingerprint) : null);
    },
    async forgetAccount(accountId) {
      forgetAccount.run(accountId);
    },
    async forgetClient(clientId) {
      forgetClient.run(clientId);
    },
  };
}
