import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { BackgroundCheckpointer, type CheckpointReport } from '../../src/storage/sqlite/checkpointer.js';
import { DATABASE_FILE } from '../../src/storage/sqlite/database.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { tempDir } from '../support/temp-dir.js';
import { eventually, sleep } from '../support/time-limit.js';

const FAST = { startDelayMs: 0, pollMs: 20 };

/** A session-like model, as oidc-provider stores them (indexed columns filled). */
const payload = (index: number) => ({ accountId: `account-${index}`, uid: `uid-${index}`, grantId: `grant-${index}`, clientId: 'client', exp: 4_000_000_000, blob: 'x'.repeat(300) });


const walBytes = (dir: string) => {
  try {
    return fs.statSync(path.join(dir, `${DATABASE_FILE}-wal`)).size;
  } catch {
    return 0;
  }
};

/** A store whose checkpoint thread runs fast, and every report it makes. */
function storeWithReports(dir: string, options: Parameters<typeof createSqliteStore>[1] = { checkpointer: FAST }) {
  const store = createSqliteStore(dir, options);
  const reports: CheckpointReport[] = [];
  store.checkpointer!.onCheckpoint((report) => reports.push(report));
  return { store, reports };
}

/** Sessions in the database file itself, read from a copy without its WAL: only what checkpoints copied there. */
function sessionsInDatabaseFile(dir: string): number {
  const copy = path.join(tempDir('checkpointer-copy'), DATABASE_FILE);
  fs.copyFileSync(path.join(dir, DATABASE_FILE), copy);
  const db = new Database(copy, { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM oidc_models WHERE kind = 'Session'").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('WAL checkpoints on a thread of their own', () => {
  it('copies the server\'s commits into the database file from the thread (the server\'s connection never does)', async () => {
    const dir = tempDir('checkpointer');
    const { store } = storeWithReports(dir);
    try {
      for (let index = 0; index < 200; index += 1) await store.models.upsert('Session', `s${index}`, payload(index), undefined);
      await eventually(() => assert.equal(sessionsInDatabaseFile(dir), 200), 10_000, 20);
    } finally {
      await store.close();
    }
  });

  it('looks again only when something was committed', async () => {
    const { store, reports } = storeWithReports(tempDir('checkpointer'));
    try {
      await store.models.upsert('Session', 'one', payload(1), undefined);
      await eventually(() => assert.ok(reports.length > 0, 'no checkpoint after the first commit'), 10_000, 10);
      const seen = reports.length;
      await sleep(200); // ten looks, no commit
      assert.equal(reports.length, seen, 'an idle server gets no checkpoints');
      await store.models.upsert('Session', 'two', payload(2), undefined);
      await eventually(() => assert.ok(reports.length > seen, 'no checkpoint after the second commit'), 10_000, 10);
    } finally {
      await store.close();
    }
  });

  it('starts an endlessly growing WAL over past its limit, and no acknowledged write is lost', async () => {
    const dir = tempDir('checkpointer');
    const { store, reports } = storeWithReports(dir, { checkpointer: { ...FAST, walLimitBytes: 256 * 1024 } });
    const restarts = () => reports.filter((report) => report.kind === 'restart').length;
    let written = 0;
    try {
      // Unbroken writes: a passive checkpoint never finds the WAL idle, so only the limit starts it over.
      const stopAt = Date.now() + 3_000;
      while (Date.now() < stopAt && restarts() < 2) {
        await store.models.upsert('Session', `s${written}`, payload(written), undefined);
        written += 1;
        if (written % 20 === 0) await sleep(1);
      }
      assert.ok(restarts() >= 1, `the WAL (${walBytes(dir)} bytes) was never started over`);
    } finally {
      await store.close();
    }
    const reopened = createSqliteStore(dir, { checkpointer: false });
    try {
      for (const index of [0, Math.floor(written / 2), written - 1]) {
        assert.ok(await reopened.models.find('Session', `s${index}`), `session ${index} of ${written} is gone`);
      }
    } finally {
      await reopened.close();
    }
  });

  it('reports once, with why, when the thread cannot open the database', async () => {
    const failures: string[] = [];
    const checkpointer = new BackgroundCheckpointer(path.join(tempDir('checkpointer'), 'no-such.sqlite'), (message) => failures.push(message), FAST);
    try {
      await eventually(() => assert.equal(failures.length, 1), 10_000, 10);
      assert.match(failures[0]!, /unable to open|no such|not exist/i);
      await sleep(100); // five more looks' worth: still one report
      assert.equal(failures.length, 1);
    } finally {
      await checkpointer.close();
    }
  });

  it('turns SQLite\'s own checkpoints back on for the server connection when the thread fails', async () => {
    const dir = tempDir('checkpointer');
    const failures: string[] = [];
    const store = createSqliteStore(dir, { checkpointer: { ...FAST, startDelayMs: 100 }, onCheckpointerFailure: (message) => failures.push(message) });
    try {
      // The thread opens the file by name when it starts; moved away (the server keeps its open
      // descriptor), it cannot.
      fs.renameSync(path.join(dir, DATABASE_FILE), path.join(dir, 'moved.sqlite'));
      await eventually(() => assert.equal(failures.length, 1), 10_000, 10);
      // ~16,000 WAL pages of writes: with SQLite's checkpoints back on, the WAL starts over every
      // 1,000 pages and stays near 4 MiB; left off, it would pass 50 MiB.
      for (let index = 0; index < 2_000; index += 1) await store.models.upsert('Session', `s${index}`, payload(index), undefined);
      assert.ok(walBytes(dir) < 12 * 1024 * 1024, `WAL at ${walBytes(dir)} bytes: nobody checkpoints`);
    } finally {
      await store.close();
    }
  });
});
