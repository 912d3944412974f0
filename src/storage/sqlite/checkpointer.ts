import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints on a thread of their own.
 *
 * In WAL mode a commit appends its pages to the -wal file; a checkpoint copies them back into the
 * database file and fsyncs both files. SQLite runs one by itself inside whichever commit takes the
 * WAL past 1,000 pages, on the connection that made it: here, the event loop. On these machines
 * that checkpoint takes about 20 ms, 17 of them in the two fsyncs, so one write in ~125 took 20 ms
 * instead of ~0.1 ms, every request behind it waited as long, and on average a write cost twice
 * what it does without (measured: 240 µs against 115 µs for a row with seven indexes).
 *
 * So the server's connection never checkpoints (wal_autocheckpoint = 0, set by the caller) and a
 * worker thread with its own connection to the file does, PASSIVE (it never blocks the server's
 * reads or writes), whenever the server has committed since its last look, every POLL_MS
 * (`PRAGMA data_version` tells it, without I/O). The server's commits then only append.
 *
 * A passive checkpoint copies the pages but cannot start the WAL over: SQLite does that on the next
 * commit after a checkpoint that found nothing left to copy, so under unbroken writes the file only
 * grows. Past `walLimitBytes` the thread runs a RESTART checkpoint, which holds new writes back
 * until it is done (the server's writes meet SQLITE_BUSY and are retried off the event loop,
 * busy.ts) and starts the WAL over; `journal_size_limit` then trims the file.
 *
 * Durability is unchanged: the same checkpoints with the same fsyncs, only on another thread, and a
 * process killed during one loses nothing (checkpoints are crash-safe; the WAL is replayed on the
 * next open). If the thread fails, the server's connection takes checkpoints back (`onFailure`).
 */
const POLL_MS = 100;
/** Checkpoints can wait; start-up cannot: the thread (its own V8 isolate) starts this long after. */
const START_DELAY_MS = 1_000;
const WAL_LIMIT_BYTES = 32 * 1024 * 1024;
/** How long a RESTART checkpoint may wait for readers to move on (in the thread, not the event loop). */
const RESTART_BUSY_TIMEOUT_MS = 2_000;

const WORKER_SOURCE = `
const fs = require('node:fs');
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('synchronous = NORMAL');
} catch (error) {
  parentPort.postMessage({ kind: 'error', message: 'cannot open ' + workerData.file + ': ' + String((error && error.message) || error) });
}
const wal = workerData.file + '-wal';
const isBusy = (error) => String(error && error.code).startsWith('SQLITE_BUSY');
let seen;
const look = () => {
  try {
    const version = db.pragma('data_version', { simple: true });
    // Nothing committed since the last look: nothing to copy, and the WAL has not grown (after a
    // RESTART it stays long until the server's next commit starts it over and trims it).
    if (version === seen) return;
    let size = 0;
    try { size = fs.statSync(wal).size; } catch {}
    if (size > workerData.walLimitBytes) {
      db.pragma('busy_timeout = ' + workerData.restartBusyTimeoutMs);
      try {
        const [result] = db.pragma('wal_checkpoint(RESTART)');
        parentPort.postMessage({ kind: 'restart', ...result });
      } finally {
        db.pragma('busy_timeout = 0');
      }
    } else {
      const [result] = db.pragma('wal_checkpoint(PASSIVE)');
      parentPort.postMessage({ kind: 'passive', ...result });
    }
    seen = version;
  } catch (error) {
    // A lock held elsewhere (another process checkpointing): tried again on the next look.
    if (isBusy(error)) { seen = undefined; return; }
    parentPort.postMessage({ kind: 'error', message: String((error && error.message) || error) });
  }
};
if (db) {
  db.pragma('busy_timeout = 0');
  setInterval(look, workerData.pollMs);
}
`;

export interface CheckpointerOptions {
  pollMs?: number;
  startDelayMs?: number;
  walLimitBytes?: number;
}

/** What the thread reports after each checkpoint (SQLite's own figures, in WAL frames). */
export interface CheckpointReport {
  kind: 'passive' | 'restart';
  busy: number;
  log: number;
  checkpointed: number;
}

export class BackgroundCheckpointer {
  #worker: Worker | undefined;
  readonly #timer: NodeJS.Timeout;
  #closed = false;
  #failed = false;
  readonly #listeners = new Set<(report: CheckpointReport) => void>();

  /**
   * `onFailure` is called once if the thread cannot do its job (with why); the caller then turns
   * the server connection's own checkpoints back on. The thread is not restarted.
   */
  constructor(private readonly file: string, private readonly onFailure: (message: string) => void, private readonly options: CheckpointerOptions = {}) {
    this.#timer = setTimeout(() => this.#start(), options.startDelayMs ?? START_DELAY_MS);
    this.#timer.unref();
  }

  /** Calls `listener` after each checkpoint the thread runs (tests, diagnostics). */
  onCheckpoint(listener: (report: CheckpointReport) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #start(): void {
    if (this.#closed) return;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        file: this.file,
        pollMs: this.options.pollMs ?? POLL_MS,
        walLimitBytes: this.options.walLimitBytes ?? WAL_LIMIT_BYTES,
        restartBusyTimeoutMs: RESTART_BUSY_TIMEOUT_MS,
      },
    });
    worker.unref();
    worker.on('message', (message: CheckpointReport | { kind: 'error'; message: string }) => {
      if (message.kind === 'error') this.#fail(message.message);
      else for (const listener of this.#listeners) listener(message);
    });
    worker.on('error', (error: unknown) => this.#fail(error instanceof Error ? error.message : String((error as { message?: unknown } | null)?.message ?? error)));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(`the checkpoint thread exited (code ${code})`);
    });
    this.#worker = worker;
  }

  #fail(message: string): void {
    if (this.#failed || this.#closed) return;
    this.#failed = true;
    this.onFailure(message);
    void this.#worker?.terminate();
  }

  /** Stops the thread (a checkpoint under way finishes first: it is one native call). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#worker?.terminate();
  }
}
