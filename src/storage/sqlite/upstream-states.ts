import type { UpstreamState, UpstreamStateStore } from '../store.js';
import type { Db } from './database.js';

interface Row {
  state_hash: string;
  binding_hash: string;
  interaction_uid: string;
  provider: UpstreamState['provider'];
  code_verifier: string;
  nonce: string | null;
  expires_at: number;
  consumed_at: number | null;
}

/** Upstream authorization requests in flight; each is consumed once, by one conditional update. */
export function sqliteUpstreamStateStore(db: Db): UpstreamStateStore {
  const insert = db.prepare(`
    INSERT INTO upstream_states (state_hash, binding_hash, interaction_uid, provider, code_verifier, nonce, expires_at)
    VALUES (@stateHash, @bindingHash, @interactionUid, @provider, @codeVerifier, @nonce, @expiresAt)`);
  const find = db.prepare('SELECT * FROM upstream_states WHERE state_hash = ?');
  const consume = db.prepare('UPDATE upstream_states SET consumed_at = ? WHERE state_hash = ? AND consumed_at IS NULL AND expires_at > ?');
  const expired = db.prepare('DELETE FROM upstream_states WHERE expires_at <= ?');

  return {
    async save(state) {
      insert.run({ ...state, nonce: state.nonce ?? null });
    },
    async find(stateHash) {
      const row = find.get(stateHash) as Row | undefined;
      if (!row) return undefined;
      return {
        stateHash: row.state_hash,
        bindingHash: row.binding_hash,
        interactionUid: row.interaction_uid,
        provider: row.provider,
        codeVerifier: row.code_verifier,
        nonce: row.nonce ?? undefined,
        expiresAt: row.expires_at,
        consumedAt: row.consumed_at ?? undefined,
      };
    },
    async consume(stateHash, now) {
      return consume.run(now, stateHash, now).changes === 1;
    },
    async deleteExpired(now) {
      return expired.run(now).changes;
    },
  };
}
