import fs from 'node:fs';

/**
 * Operational log: one line per event, `time LEVEL event key=value …`, saying what happened and to
 * whom. Callers pass identifiers (usernames, client ids, addresses), never tokens or passwords.
 *
 * Lines are batched and written once per event-loop turn: on Linux a write to a pipe blocks, and one
 * write per request line costs more than the line itself. What is queued is written on exit.
 */
export type Fields = Record<string, unknown>;

export interface Logger {
  info(event: string, fields?: Fields): void;
  warn(event: string, fields?: Fields): void;
  error(event: string, fields?: Fields): void;
}

export interface LineSink {
  write(line: string): void;
  flush(): void;
}

export function batchedSink(fd = 1): LineSink {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    try {
      fs.writeSync(fd, text);
    } catch {
      // A closed stdout (EPIPE) must not take the server down with it.
    }
  };
  process.once('exit', flush);
  return {
    write(line) {
      pending.push(line.endsWith('\n') ? line : `${line}\n`);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

function formatValue(value: unknown): string {
  const text = String(value);
  return /[\s"=]/.test(text) || text === '' ? JSON.stringify(text) : text;
}

export function createLogger(sink: LineSink = batchedSink()): Logger {
  const line = (level: string, event: string, fields: Fields = {}) => {
    const parts = [new Date().toISOString(), level, event];
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined || value === null) continue;
      if (value instanceof Error) {
        parts.push(`${key}=${formatValue(value.message)}`);
        continue;
      }
      parts.push(`${key}=${formatValue(value)}`);
    }
    sink.write(parts.join(' '));
  };
  return {
    info: (event, fields) => line('INFO', event, fields),
    warn: (event, fields) => line('WARN', event, fields),
    error: (event, fields) => line('ERROR', event, fields),
  };
}

/** For tests and tools that want silence. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
