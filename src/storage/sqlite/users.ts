import type { NewUser, SignInMethod, User, UserStore } from '../store.js';
import { UsernameTakenError } from '../store.js';
import type { Db } from './database.js';

export interface UserRow {
  id: string;
  username: string;
  display_name: string;
  sign_in_method: SignInMethod;
  password_hash: string | null;
  created_at: number;
  updated_at: number;
}

export const toUser = (row: UserRow): User => ({
  id: row.id,
  username: row.username,
  displayName: row.display_name,
  signInMethod: row.sign_in_method,
  passwordHash: row.password_hash,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export function sqliteUserStore(db: Db): UserStore {
  const count = db.prepare('SELECT COUNT(*) AS n FROM users');
  const list = db.prepare('SELECT * FROM users ORDER BY created_at, username');
  const byId = db.prepare('SELECT * FROM users WHERE id = ?');
  const byName = db.prepare('SELECT * FROM users WHERE username = ?');
  const insert = db.prepare(`
    INSERT INTO users (id, username, display_name, sign_in_method, password_hash, created_at, updated_at)
    VALUES (@id, @username, @displayName, @signInMethod, @passwordHash, @now, @now)`);
  const insertIfNone = db.prepare(`
    INSERT INTO users (id, username, display_name, sign_in_method, password_hash, created_at, updated_at)
    SELECT @id, @username, @displayName, @signInMethod, @passwordHash, @now, @now
    WHERE NOT EXISTS (SELECT 1 FROM users)`);
  const setHash = db.prepare("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND sign_in_method = 'password'");

  return {
    async count() {
      return (count.get() as { n: number }).n;
    },
    async list() {
      return (list.all() as UserRow[]).map(toUser);
    },
    async findById(id) {
      const row = byId.get(id) as UserRow | undefined;
      return row && toUser(row);
    },
    async findByUsername(username) {
      const row = byName.get(username) as UserRow | undefined;
      return row && toUser(row);
    },
    async create(user: NewUser) {
      const now = Date.now();
      try {
        insert.run({ ...user, now });
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new UsernameTakenError(user.username);
        throw error;
      }
      return { ...user, createdAt: now, updatedAt: now };
    },
    async createIfNone(user: NewUser) {
      return insertIfNone.run({ ...user, now: Date.now() }).changes === 1;
    },
    async setPasswordHash(id, passwordHash) {
      return setHash.run(passwordHash, Date.now(), id).changes === 1;
    },
  };
}
