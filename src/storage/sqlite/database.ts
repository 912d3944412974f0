import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StartupError } from '../../errors.js';
import { migrations, type Migration } from './migrations.js';

export type Db = Database.Database;

export const DATABASE_FILE = 'uuid-mcp-server.sqlite';

/** While opening (migrations, possibly beside another process starting): SQLite may sleep this long for a lock. */
const OPENING_BUSY_TIMEOUT_MS = 5_000;
/**
 * Once serving: SQLite's own wait for a lock sleeps inside the call and so blocks the event loop;
 * only a moment here, the rest of the wait is busy.ts's, between attempts.
 */
const SERVING_BUSY_TIMEOUT_MS = 10;
/** Less free space than this on the data directory's file system reads as "full" when opening fails. */
const FULL_BELOW_BYTES = 256 * 1024;

/**
 * Opens (creating if needed) the database in `dataDir`, and proves it can be written before the
 * server says it is running: a read-only or full data directory stops start-up with one line
 * naming it and what to do.
 *
 * Durability, as configured here:
 * - better-sqlite3 is synchronous: a statement has committed (or failed) before the code that
 *   answers the request runs, so no response reports a write that is not in the database.
 * - journal_mode=WAL: a commit is an append to the -wal file; readers never wait on the writer.
 * - synchronous=NORMAL (in WAL mode): the WAL is fsynced at checkpoints, not at every commit. A
 *   killed process (SIGKILL, a crash, the OOM killer) loses no committed transaction, since the
 *   commit is in the operating system's file cache and the next open replays the WAL. Only losing
 *   the machine itself (a power cut, a kernel panic) can lose the last commits before the latest
 *   checkpoint; it cannot corrupt the database. synchronous=FULL would close that window at the
 *   cost of an fsync per commit.
 */
export function openDatabase(dataDir: string, known: Migration[] = migrations): Db {
  let db: Db | undefined;
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    fs.accessSync(dataDir, fs.constants.W_OK);
    const file = path.join(dataDir, DATABASE_FILE);
    db = new Database(file);
    // It holds signing keys and password hashes: readable by this user only (SQLite gives its -wal
    // and -shm files the same mode).
    fs.chmodSync(file, 0o600);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${OPENING_BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    migrate(db, known);
    proveWritable(db);
    db.pragma(`busy_timeout = ${SERVING_BUSY_TIMEOUT_MS}`);
  } catch (error) {
    if (db?.open) db.close();
    if (error instanceof StartupError) throw error;
    throw new StartupError(`DATA_DIR ${dataDir} cannot hold the database: ${describe(error, dataDir)}`, { cause: error });
  }
  return db;
}

/**
 * A write that must reach the -wal file (the schema cookie changes), so a disk that filled up
 * since the last start fails here rather than on a user's first sign-in.
 */
function proveWritable(db: Db): void {
  db.transaction(() => {
    db.exec('CREATE TABLE start_up_write_check (x INTEGER); DROP TABLE start_up_write_check');
  }).immediate();
}

/** What is wrong, and what to do about it. The file system is asked first: errors from a full or read-only one vary. */
function describe(error: unknown, dataDir: string): string {
  const fileSystem = fileSystemProblem(dataDir);
  if (fileSystem) return fileSystem;
  const code = (error as { code?: string }).code;
  const hints: Record<string, string> = {
    EACCES: 'permission denied (make it writable by this user or set DATA_DIR)',
    ENOTDIR: 'it is not a directory (set DATA_DIR to a directory)',
    SQLITE_CANTOPEN: 'the file cannot be opened',
    SQLITE_NOTADB: 'the file is not a SQLite database',
    SQLITE_CORRUPT: 'the database file is corrupt',
  };
  if (code?.startsWith('SQLITE_READONLY')) return 'the database file is read-only (make it writable by this user or set DATA_DIR)';
  if (code === 'ENOSPC' || code === 'SQLITE_FULL') return 'the disk is full (free some space or set DATA_DIR to another disk)';
  return (code && hints[code]) ?? (error instanceof Error ? error.message : String(error));
}

/** A read-only or (nearly) full file system under `dataDir`, told from the nearest directory that exists. */
function fileSystemProblem(dataDir: string): string | undefined {
  let existing = path.resolve(dataDir);
  while (!fs.existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  try {
    fs.accessSync(existing, fs.constants.W_OK);
  } catch (error) {
    if ((error as { code?: string }).code === 'EROFS') return 'the file system is read-only (remount it read-write or set DATA_DIR to a writable place)';
    return undefined;
  }
  try {
    const stats = fs.statfsSync(existing);
    const free = stats.bavail * stats.bsize;
    if (free < FULL_BELOW_BYTES) return `the disk is full (${Math.floor(free / 1024)} KiB free; free some space or set DATA_DIR to another disk)`;
  } catch {
    return undefined;
  }
  return undefined;
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
