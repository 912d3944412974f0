import type { SecretStore } from '../store.js';
import type { Db } from './database.js';

export function sqliteSecretStore(db: Db): SecretStore {
  const insert = db.prepare('INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING');
  const select = db.prepare('SELECT value FROM secrets WHERE name = ?');

  return {
    async getOrCreate(name, create) {
      const existing = select.get(name) as { value: string } | undefined;
      if (existing) return existing.value;
      insert.run(name, await create(), Date.now());
      return (select.get(name) as { value: string }).value;
    },
  };
}
