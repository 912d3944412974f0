import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked } from './child-process.js';
import { within } from './time-limit.js';

const HOLDER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sqlite-lock-holder.mjs');

export type LockMode = 'IMMEDIATE' | 'EXCLUSIVE';

export interface HeldLock {
  /**
   * Asks the holder to roll back and waits until it has; resolves with the time it was asked, so
   * a caller can tell an answer that waited for the lock (it came later) from one that did not.
   */
  release(): Promise<number>;
}

/** A child process holding `BEGIN <mode>` on `databaseFile` (the write lock) until release(). */
export async function holdWriteLock(databaseFile: string, mode: LockMode): Promise<HeldLock> {
  const child = spawnTracked(process.execPath, [HOLDER, databaseFile, mode]);
  let output = '';
  const waiting = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    waiting.forEach((check) => check());
  });
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const saw = (word: string) => new Promise<void>((resolve, reject) => {
    const check = () => {
      if (!output.split('\n').includes(word)) return;
      waiting.delete(check);
      resolve();
    };
    waiting.add(check);
    check();
    child.once('close', (code) => reject(new Error(`the lock holder exited (${code}) before saying "${word}": ${output}`)));
  });
  await within(saw('locked'), 10_000, 'the lock holder taking the lock');
  return {
    async release() {
      const askedAt = Date.now();
      const released = saw('released');
      child.kill('SIGUSR2');
      await within(released, 10_000, 'the lock holder letting go');
      return askedAt;
    },
  };
}
