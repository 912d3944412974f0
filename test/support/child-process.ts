import { spawn, type ChildProcessByStdio, type SpawnOptionsWithoutStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { atExit } from './at-exit.js';

/**
 * Every program a test starts (the server, a client's CLI, the conformance suite), started so that
 * it cannot outlive the test process: it is killed (SIGKILL) at exit or on SIGINT/SIGTERM if still
 * running. `group: true` starts it in a process group of its own, and then the whole group is
 * killed (what it started too: a callback server, a shell).
 */
export interface SpawnTracked extends Omit<SpawnOptionsWithoutStdio, 'detached' | 'stdio'> {
  group?: boolean;
}

export type TrackedChild = ChildProcessByStdio<null, Readable, Readable>;

export function spawnTracked(command: string, args: string[], options: SpawnTracked = {}): TrackedChild {
  const { group = false, ...spawnOptions } = options;
  const child = spawn(command, args, { ...spawnOptions, detached: group, stdio: ['ignore', 'pipe', 'pipe'] });
  const forget = atExit('processes', () => killNow(child, group));
  child.once('close', forget);
  child.once('error', forget);
  return child;
}

/** SIGKILL to `child`, or to its whole process group when it leads one; nothing if it has ended. */
export function killNow(child: { pid?: number; exitCode: number | null; signalCode: NodeJS.Signals | null; kill(signal: NodeJS.Signals): boolean }, group: boolean): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    if (group) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  } catch {
    // already gone
  }
}
