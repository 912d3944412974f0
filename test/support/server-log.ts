import type { ServerProcess } from './server-process.js';
import { eventually } from './time-limit.js';

/**
 * What the real server printed, read back as a test reads it: its access log (src/http/access-log.ts:
 * one line per HTTP request, morgan "combined" with the secrets in URLs redacted: method, URL,
 * status, user agent) and its operational events (`time LEVEL event key=value …`). Used to see what
 * an out-of-process client (separate processes, native binaries) sent without a recording proxy in
 * between. Bodies and the Authorization header are never logged, so what a client sent in them is
 * read from what it stored and from the server's answers.
 */
export interface AccessLogEntry {
  method: string;
  /** Absolute URL on the server's origin; `code`, `state` and other secrets read "REDACTED". */
  url: URL;
  status: number;
  userAgent: string;
  /** The line as logged, for failure messages. */
  line: string;
}

export interface ServerEvent {
  level: string;
  event: string;
  fields: Record<string, string>;
}

const ACCESS_LINE = /^\S+ - \[[^\]]+\] "(\S+) (\S+) HTTP\/[\d.]+" (\d{3}) \S+ "[^"]*" "([^"]*)"/;
const EVENT_LINE = /^\S+ (INFO|WARN|ERROR) (\S+)(.*)$/;
const FIELD = /(\w[\w.]*)=("(?:[^"\\]|\\.)*"|\S*)/g;

/** `METHOD /path?query status (user agent)` of each entry, one a line, to read in an assertion message. */
export function describeRequests(entries: AccessLogEntry[]): string {
  return entries.map((entry) => `${entry.method} ${entry.url.pathname}${entry.url.search} ${entry.status} (${entry.userAgent})`).join('\n');
}

/**
 * The server's output from the moment the ServerLog was made: a test makes one where a step
 * begins (serverLog), and a new one for a restarted server (a new process, a new output). The
 * settle markers' own lines are left out.
 */
export class ServerLog {
  readonly #server: ServerProcess;
  readonly #from: number;

  constructor(server: ServerProcess) {
    this.#server = server;
    this.#from = server.output().length;
  }

  /** Waits until everything the server logged before this call is in its output (see `settleMarker`). */
  async settle(): Promise<this> {
    await settleMarker(this.#server);
    return this;
  }

  lines(): string[] {
    return this.#server.output().slice(this.#from).split('\n').filter((line) => !line.includes(SETTLE_PATH));
  }

  access(): AccessLogEntry[] {
    return this.lines().flatMap((line) => {
      const match = ACCESS_LINE.exec(line);
      return match ? [{ method: match[1]!, url: new URL(match[2]!, this.#server.url), status: Number(match[3]), userAgent: match[4]!, line }] : [];
    });
  }

  /** Access log entries for one method and path. */
  requests(method: string, pathname: string): AccessLogEntry[] {
    return this.access().filter((entry) => entry.method === method && entry.url.pathname === pathname);
  }

  /** The access log once a request to `pathname` is in it (a line is written when its response ends), waiting up to `timeoutMs`. */
  including(pathname: string, timeoutMs = 5_000): Promise<AccessLogEntry[]> {
    return eventually(() => {
      const entries = this.access();
      if (!entries.some((entry) => entry.url.pathname === pathname)) throw new Error(`no ${pathname} in the access log within ${timeoutMs} ms:\n${describeRequests(entries)}`);
      return entries;
    }, timeoutMs);
  }

  events(name?: string): ServerEvent[] {
    return this.lines().flatMap((line) => {
      const match = EVENT_LINE.exec(line);
      if (!match || (name !== undefined && match[2] !== name)) return [];
      const fields: Record<string, string> = {};
      for (const field of match[3]!.matchAll(FIELD)) fields[field[1]!] = field[2]!.startsWith('"') ? (JSON.parse(field[2]!) as string) : field[2]!;
      return [{ level: match[1]!, event: match[2]!, fields }];
    });
  }

  /** The access log as text, for failure messages. */
  summary(): string {
    return describeRequests(this.access());
  }
}

/** The request whose access log line marks a point in the server's output. */
const SETTLE_PATH = '/healthz?settle=';
let markers = 0;

/**
 * The server writes its access log and its events through one sink (index.ts: one batchedSink for
 * both, src/log.ts), in the order they were logged, a turn of its event loop after logging them;
 * The access log writes a request's line when its response has ended (closed). So once the access line of a request made
 * now is in the output, everything the server logged before answering it is there too: the lines
 * of requests already answered, and the events logged while handling them. Requests still open
 * (an event stream) are logged when they end. Fails after 5 s with the output.
 */
async function settleMarker(server: ServerProcess): Promise<void> {
  markers += 1;
  const marker = `GET ${SETTLE_PATH}${markers} `;
  // Straight to the port on 127.0.0.1: the server's URL may name https (PUBLIC_URL); /healthz answers before any https check.
  const response = await fetch(`http://127.0.0.1:${server.port}${SETTLE_PATH}${markers}`, { signal: AbortSignal.timeout(5_000) });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`settling the server log: ${SETTLE_PATH}${markers} answered ${response.status}`);
  await eventually(() => {
    const output = server.output();
    const at = output.indexOf(marker);
    if (at < 0 || output.indexOf('\n', at) < 0) throw new Error(`settling the server log: no "${marker}" line within 5 s:\n${server.output().slice(-2000)}`);
  }, 5_000, 10);
}

/** Starts reading `server`'s output after everything it logged about earlier requests. */
export async function serverLog(server: ServerProcess): Promise<ServerLog> {
  await settleMarker(server);
  return new ServerLog(server);
}
