import { setImmediate as nextTurn } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Full garbage collections, each followed by a turn of the event loop (a WeakRef is kept until its
 * turn ends, and finalizers run between turns), for tests that measure what is still held.
 */
export async function collectGarbage(): Promise<void> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  for (let round = 0; round < 3; round += 1) {
    gc();
    await nextTurn();
  }
}
