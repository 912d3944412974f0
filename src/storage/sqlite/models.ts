import type { AccessTokenFacts, ModelPayload, ModelStore, StoredModel } from '../store.js';
import type { Db } from './database.js';

interface Row {
  payload: string;
  expires_at: number | null;
  consumed_at: number | null;
}

/** oidc-provider's models in one table keyed by (kind, id), with the lookups its adapter contract needs. */
export function sqliteModelStore(db: Db): ModelStore {
  const upsert = db.prepare(`
    INSERT INTO oidc_models (kind, id, payload, grant_id, uid, user_code, account_id, client_id, expires_at, consumed_at, created_at)
    VALUES (@kind, @id, @payload, @grantId, @uid, @userCode, @accountId, @clientId, @expiresAt, NULL, @now)
    ON CONFLICT (kind, id) DO UPDATE SET
      payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid, user_code = excluded.user_code,
      account_id = excluded.account_id, client_id = excluded.client_id, expires_at = excluded.expires_at`);
  const byId = db.prepare('SELECT payload, expires_at, consumed_at FROM oidc_models WHERE kind = ? AND id = ?');
  // The fields the bearer check reads, taken out of the payload by SQLite: no JSON parse of the whole payload in JavaScript.
  const accessToken = db.prepare(`
    SELECT account_id AS accountId, client_id AS clientId, json_extract(payload, '$.scope') AS scope,
      json_extract(payload, '$.aud') AS aud, json_extract(payload, '$.exp') AS exp
    FROM oidc_models WHERE kind = 'AccessToken' AND id = ? AND (expires_at IS NULL OR expires_at > ?)`);
  const byUid = db.prepare('SELECT payload, expires_at, consumed_at FROM oidc_models WHERE kind = ? AND uid = ?');
  const byUserCode = db.prepare('SELECT payload, expires_at, consumed_at FROM oidc_models WHERE kind = ? AND user_code = ?');
  const consume = db.prepare('UPDATE oidc_models SET consumed_at = COALESCE(consumed_at, ?) WHERE kind = ? AND id = ?');
  const destroy = db.prepare('DELETE FROM oidc_models WHERE kind = ? AND id = ?');
  const revoke = db.prepare('DELETE FROM oidc_models WHERE grant_id = ?');
  const revokeGrant = db.prepare("DELETE FROM oidc_models WHERE kind = 'Grant' AND id = ?");
  const revokeAccount = db.prepare('DELETE FROM oidc_models WHERE account_id = ?');
  const revokeClient = db.prepare("DELETE FROM oidc_models WHERE client_id = ? AND kind <> 'Client'");
  const expired = db.prepare('DELETE FROM oidc_models WHERE expires_at IS NOT NULL AND expires_at <= ?');
  const markClientUsed = db.prepare("UPDATE oidc_models SET used_at = ? WHERE kind = 'Client' AND id = ? AND used_at IS NULL");
  const unusedClients = db.prepare("SELECT id FROM oidc_models WHERE kind = 'Client' AND used_at IS NULL AND created_at < ? ORDER BY created_at LIMIT ?").pluck();
  const deleteClient = db.prepare("DELETE FROM oidc_models WHERE kind = 'Client' AND id = ? AND used_at IS NULL");
  const deleteUnused = db.transaction((registeredBefore: number, limit: number): string[] => {
    const ids = unusedClients.all(registeredBefore, limit) as string[];
    for (const id of ids) {
      deleteClient.run(id);
      revokeClient.run(id);
    }
    return ids;
  });
  const save = db.transaction((row: Record<string, unknown>, kind: string, clientId: string | null) => {
    upsert.run(row);
    // The client completed an authorization: its registration is kept (deleteUnusedClients).
    if (kind === 'Grant' && clientId) markClientUsed.run(row.now, clientId);
  });

  const read = (row: Row | undefined): StoredModel | undefined => {
    if (!row || (row.expires_at !== null && row.expires_at <= Date.now())) return undefined;
    return { payload: JSON.parse(row.payload) as ModelPayload, consumedAt: row.consumed_at ?? undefined };
  };

  return {
    async upsert(kind, id, payload, expiresAt) {
      const clientId = stringField(payload, 'clientId');
      save({
        kind,
        id,
        payload: JSON.stringify(payload),
        grantId: stringField(payload, 'grantId'),
        uid: stringField(payload, 'uid'),
        userCode: stringField(payload, 'userCode'),
        accountId: stringField(payload, 'accountId'),
        clientId,
        expiresAt: expiresAt ?? null,
        now: Date.now(),
      }, kind, clientId);
    },
    async find(kind, id) {
      return read(byId.get(kind, id) as Row | undefined);
    },
    findAccessToken(id) {
      return accessToken.get(id, Date.now()) as AccessTokenFacts | undefined;
    },
    async findByUid(kind, uid) {
      return read(byUid.get(kind, uid) as Row | undefined);
    },
    async findByUserCode(kind, userCode) {
      return read(byUserCode.get(kind, userCode) as Row | undefined);
    },
    async consume(kind, id) {
      consume.run(Date.now(), kind, id);
    },
    async destroy(kind, id) {
      destroy.run(kind, id);
    },
    async revokeByGrantId(grantId) {
      db.transaction(() => {
        revoke.run(grantId);
        revokeGrant.run(grantId);
      })();
    },
    async revokeByAccountId(accountId) {
      revokeAccount.run(accountId);
    },
    async revokeByClientId(clientId) {
      revokeClient.run(clientId);
    },
    async deleteExpired(now) {
      return expired.run(now).changes;
    },
    async deleteUnusedClients(registeredBefore, limit) {
      return deleteUnused(registeredBefore, limit);
    },
  };
}

function stringField(payload: ModelPayload, key: string): string | null {
  const value = payload[key];
  return typeof value === 'string' ? value : null;
}
