import os from 'node:os';

/**
 * What a test process must undo however it ends: the processes it started (first), then the
 * temporary folders they worked in. Run on 'exit', and on SIGINT and SIGTERM (whose default action
 * would end the process without 'exit' handlers; the test runner sends SIGTERM to a file it gives
 * up on). Each task runs once; one that throws does not stop the others.
 */
export type ExitPhase = 'processes' | 'files';

const tasks: Record<ExitPhase, Set<() => void>> = { processes: new Set(), files: new Set() };
let installed = false;

function runAll(): void {
  for (const phase of ['processes', 'files'] as const) {
    for (const task of [...tasks[phase]]) {
      tasks[phase].delete(task);
      try {
        task();
      } catch {
        // best effort: the rest still runs
      }
    }
  }
}

/** Registers `task` for the end of the test process; returns a function that unregisters it (the thing was already undone). */
export function atExit(phase: ExitPhase, task: () => void): () => void {
  if (!installed) {
    installed = true;
    process.once('exit', runAll);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => process.exit(128 + os.constants.signals[signal]));
    }
  }
  tasks[phase].add(task);
  return () => tasks[phase].delete(task);
}
