import type { UpstreamIdentity, UpstreamIdentityStore, UpstreamLink, User } from '../store.js';
import type { Db } from './database.js';
import { toUser, type UserRow } from './users.js';

interface IdentityRow {
  provider: UpstreamIdentity['provider'];
  subject: string;
  user_id: string;
  encrypted_tokens: string;
  profile: string;
  created_at: number;
  updated_at: number;
}

/** Upstream identities, each linked to one user by the provider's subject (never by name). */
export function sqliteUpstreamIdentityStore(db: Db): UpstreamIdentityStore {
  const identity = db.prepare('SELECT * FROM upstream_identities WHERE provider = ? AND subject = ?');
  const byUser = db.prepare('SELECT * FROM upstream_identities WHERE user_id = ? ORDER BY updated_at DESC LIMIT 1');
  const userById = db.prepare('SELECT * FROM users WHERE id = ?');
  const nameHolder = db.prepare('SELECT id FROM users WHERE username = ?').pluck();
  const insertUser = db.prepare(`
    INSERT INTO users (id, username, display_name, sign_in_method, password_hash, created_at, updated_at)
    VALUES (?, ?, ?, ?, NULL, ?, ?)`);
  const updateUser = db.prepare('UPDATE users SET username = ?, display_name = ?, updated_at = ? WHERE id = ?');
  const insertIdentity = db.prepare(`
    INSERT INTO upstream_identities (provider, subject, user_id, encrypted_tokens, profile, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)`);
  const updateIdentity = db.prepare('UPDATE upstream_identities SET encrypted_tokens = ?, profile = ?, updated_at = ? WHERE provider = ? AND subject = ?');

  /**
   * The wanted name, or (when another account holds it, e.g. a GitHub login renamed and reused) the
   * name with the subject appended, or (when even that is held) with our user id too, which no one
   * else's name holds: a sign-in never fails on a taken name.
   */
  const freeName = (wanted: string, userId: string, subject: string): string => {
    for (const candidate of [wanted, `${wanted}~${subject}`]) {
      const holder = nameHolder.get(candidate) as string | undefined;
      if (holder === undefined || holder === userId) return candidate;
    }
    return `${wanted}~${subject}~${userId}`;
  };

  const signIn = db.transaction((given: UpstreamLink, now: number): { user: User; created: boolean } => {
    const profile = JSON.stringify(given.profile);
    const existing = identity.get(given.provider, given.subject) as IdentityRow | undefined;
    if (existing) {
      updateUser.run(freeName(given.username, existing.user_id, given.subject), given.displayName, now, existing.user_id);
      updateIdentity.run(given.encryptedTokens, profile, now, given.provider, given.subject);
      return { user: toUser(userById.get(existing.user_id) as UserRow), created: false };
    }
    insertUser.run(given.newUserId, freeName(given.username, given.newUserId, given.subject), given.displayName, given.provider, now, now);
    insertIdentity.run(given.provider, given.subject, given.newUserId, given.encryptedTokens, profile, now, now);
    return { user: toUser(userById.get(given.newUserId) as UserRow), created: true };
  });

  return {
    async signIn(given) {
      // IMMEDIATE: two first sign-ins of one identity at once cannot both create a user.
      return signIn.immediate(given, Date.now());
    },
    async findByUser(userId) {
      const row = byUser.get(userId) as IdentityRow | undefined;
      if (!row) return undefined;
      return {
        provider: row.provider,
        subject: row.subject,
        userId: row.user_id,
        encryptedTokens: row.encrypted_tokens,
        profile: JSON.parse(row.profile) as Record<string, unknown>,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      };
    },
  };
}
