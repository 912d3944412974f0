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
    let bytes = Buffer.from(pending.join(''));
    pending = [];
    while (bytes.length > 0) {
      try {
        bytes = bytes.subarray(fs.writeSync(fd, bytes));
      } catch (error) {
        if ((error as { code?: string }).code === 'EAGAIN') {
          // A full non-blocking pipe: keep what is left and try again shortly.
          pending.unshift(bytes.toString());
          if (!scheduled) {
            scheduled = true;
            setTimeout(flush, 10).unref();
          }
        }
        // Anything else (a closed stdout, EPIPE) must not take the server down with it.
        return;
      }
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

/** Plain when safe; otherwise JSON-quoted, so spaces, quotes and control characters (a crafted username, say) cannot forge log lines or terminal escapes. */
function formatValue(value: unknown): string {
  const text = String(value);
  return /[\s"=\\\u0000-\u001f\u007f-\u009f]/.test(text) || text === '' ? JSON.stringify(text) : text;
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
