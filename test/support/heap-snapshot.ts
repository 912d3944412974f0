import fs from 'node:fs';
import path from 'node:path';
import { eventually } from './time-limit.js';

/**
 * The live JavaScript heap of another Node.js process, in MiB: what is still reachable after a full
 * garbage collection, which V8 runs before it writes a heap snapshot. The process must have been
 * started with NODE_OPTIONS `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=<dir>` (heapSnapshotOptions).
 * Resident memory alone cannot tell a leak from garbage not yet collected.
 */
export function heapSnapshotOptions(dir: string): string {
  return `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[] } };
  nodes: number[];
}

export async function liveHeapMiB(pid: number, dir: string, timeoutMs = 60_000): Promise<number> {
  const before = new Set(fs.readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  // The file appears at once and is written for a while: it is complete once it ends the JSON
  // document (its last section, "strings", closes with "]}") and its size has stopped changing.
  let lastSize = -1;
  const file = await eventually(() => {
    const name = fs.readdirSync(dir).find((entry) => entry.endsWith('.heapsnapshot') && !before.has(entry));
    if (!name) throw new Error(`no heap snapshot of process ${pid} in ${dir} yet`);
    const full = path.join(dir, name);
    const size = fs.statSync(full).size;
    const stable = size === lastSize;
    lastSize = size;
    if (!stable || !readTail(full).trimEnd().endsWith(']}')) throw new Error(`heap snapshot ${full} still being written`);
    return full;
  }, timeoutMs, 200);
  try {
    const snapshot = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
    const fields = snapshot.snapshot.meta.node_fields;
    const selfSize = fields.indexOf('self_size');
    let bytes = 0;
    for (let index = selfSize; index < snapshot.nodes.length; index += fields.length) bytes += snapshot.nodes[index]!;
    return bytes / (1024 * 1024);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

function readTail(file: string): string {
  const handle = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(handle).size;
    const tail = Buffer.alloc(Math.min(16, size));
    fs.readSync(handle, tail, 0, tail.length, size - tail.length);
    return tail.toString('utf8');
  } finally {
    fs.closeSync(handle);
  }
}
