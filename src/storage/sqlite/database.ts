import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StartupError } from '../../errors.js';
import { migrations, type Migration } from './migrations.js';

export type Db = Database.Database;

export const DATABASE_FILE = 'uuid-mcp-server.sqlite';

/**
 * Opens (creating if needed) the database in `dataDir`: WAL, so readers never wait on the writer and
 * a killed process loses no committed transaction; a busy timeout, so a concurrent writer (the
 * `npm run user` command beside a running server) is waited for instead of failing.
 */
export function openDatabase(dataDir: string, known: Migration[] = migrations): Db {
  let db: Db;
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    fs.accessSync(dataDir, fs.constants.W_OK);
    const file = path.join(dataDir, DATABASE_FILE);
    db = new Database(file);
    // It holds signing keys and password hashes: readable by this user only (SQLite gives its -wal
    // and -shm files the same mode).
    fs.chmodSync(file, 0o600);
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a process crash never loses a commit; only a power cut can lose the last ones.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    migrate(db, known);
  } catch (error) {
    if (error instanceof StartupError) throw error;
    throw new StartupError(`DATA_DIR ${dataDir} cannot hold the database: ${describe(error)}`, { cause: error });
  }
  return db;
}

function describe(error: unknown): string {
  const code = (error as { code?: string }).code;
  const hints: Record<string, string> = {
    EACCES: 'permission denied (make it writable by this user or set DATA_DIR)',
    EROFS: 'the file system is read-only (set DATA_DIR to a writable place)',
    ENOSPC: 'the disk is full',
    SQLITE_FULL: 'the disk is full',
    SQLITE_READONLY: 'the database file is read-only',
    SQLITE_CANTOPEN: 'the file cannot be opened',
    SQLITE_NOTADB: 'the file is not a SQLite database',
    SQLITE_CORRUPT: 'the database file is corrupt',
  };
  return (code && hints[code]) ?? (error instanceof Error ? error.message : String(error));
}

function migrate(db: Db, known: Migration[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number };
  const newest = known.at(-1)?.version ?? 0;
  if (applied.v > newest) {
    throw new StartupError(`DATA_DIR holds a database at schema version ${applied.v}, newer than this server knows (${newest}); upgrade the server`);
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of known) {
    if (migration.version <= applied.v) continue;
    // IMMEDIATE takes the write lock first, so two processes starting at once apply each step once.
    db.transaction(() => {
      const again = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(migration.version);
      if (again) return;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, Date.now());
    }).immediate();
  }
}
