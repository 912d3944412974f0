import { eventually } from './time-limit.js';

/**
 * The server's access log (src/http/access-log.ts, morgan "combined" with secrets in URLs
 * redacted), read back from a running server's output: what a client sent, seen from the server,
 * for clients whose requests a test cannot intercept (separate processes, native binaries).
 */
export interface AccessLogEntry {
  method: string;
  /** Path and query as logged (state, code and tokens already show as REDACTED). */
  url: URL;
  status: number;
  userAgent: string;
  line: string;
}

const LINE = /^\S+ - \[[^\]]+\] "(\S+) (\S+) HTTP\/[\d.]+" (\d{3}) \S+ "[^"]*" "([^"]*)"/;

export function accessLog(output: string, origin: string): AccessLogEntry[] {
  const entries: AccessLogEntry[] = [];
  for (const line of output.split('\n')) {
    const match = LINE.exec(line);
    if (match) entries.push({ method: match[1]!, url: new URL(match[2]!, origin), status: Number(match[3]), userAgent: match[4]!, line });
  }
  return entries;
}

/** `METHOD /path` of the entries, to read in an assertion message. */
export function describeRequests(entries: AccessLogEntry[]): string {
  return entries.map((entry) => `${entry.method} ${entry.url.pathname} ${entry.status} (${entry.userAgent})`).join('\n');
}

/**
 * A test's view of the access log of the server it is talking to, step by step: `step()` marks
 * where a step begins, `since()` is what the server logged after that. `server` is read each time,
 * so a restarted server (new process, new output) is followed after `restarted()`.
 */
export class AccessLogSteps {
  #mark = 0;

  constructor(private readonly server: () => { output(): string; url: string }) {}

  all(): AccessLogEntry[] {
    return accessLog(this.server().output(), this.server().url);
  }

  step(): void {
    this.#mark = this.all().length;
  }

  /** After a restart: the new process's log starts empty. */
  restarted(): void {
    this.#mark = 0;
  }

  since(): AccessLogEntry[] {
    return this.all().slice(this.#mark);
  }

  /** What was logged since the step began, once a request to `pathname` is among it (a line is written when its response ends). */
  async sinceIncluding(pathname: string, timeoutMs = 5_000): Promise<AccessLogEntry[]> {
    return eventually(() => {
      const entries = this.since();
      if (!entries.some((entry) => entry.url.pathname === pathname)) throw new Error(`no ${pathname} in the access log within ${timeoutMs} ms:\n${describeRequests(entries)}`);
      return entries;
    }, timeoutMs);
  }
}
