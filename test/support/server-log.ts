import type { ServerProcess } from './server-process.js';

/**
 * What the real server printed, read back as a test reads it: its access log (one line per HTTP
 * request: method, URL with secrets redacted, status, user agent) and its operational events
 * (`time LEVEL event key=value …`). Used to see what an out-of-process client sent without a
 * recording proxy in between. Bodies and the Authorization header are never logged, so what a
 * client sent in them is read from what it stored and from the server's answers.
 */
export interface AccessLogEntry {
  method: string;
  /** Absolute URL on the server's origin; `code`, `state` and other secrets read "REDACTED". */
  url: URL;
  status: number;
  userAgent: string;
}

export interface ServerEvent {
  level: string;
  event: string;
  fields: Record<string, string>;
}

const ACCESS_LINE = /^\S+ - \[[^\]]+\] "(\S+) (\S+) HTTP\/[\d.]+" (\d{3}) \S+ "[^"]*" "([^"]*)"/;
const EVENT_LINE = /^\S+ (INFO|WARN|ERROR) (\S+)(.*)$/;
const FIELD = /(\w[\w.]*)=("(?:[^"\\]|\\.)*"|\S*)/g;

/** The server's output from the moment `serverLog(server)` was called. */
export class ServerLog {
  readonly #server: ServerProcess;
  readonly #from: number;

  constructor(server: ServerProcess) {
    this.#server = server;
    this.#from = server.output().length;
  }

  /** Waits until the server has printed what it was doing (see `quiet`). */
  async settle(): Promise<this> {
    await quiet(this.#server);
    return this;
  }

  lines(): string[] {
    return this.#server.output().slice(this.#from).split('\n');
  }

  access(): AccessLogEntry[] {
    return this.lines().flatMap((line) => {
      const match = ACCESS_LINE.exec(line);
      return match ? [{ method: match[1]!, url: new URL(match[2]!, this.#server.url), status: Number(match[3]), userAgent: match[4]! }] : [];
    });
  }

  /** Access log entries for one method and path. */
  requests(method: string, pathname: string): AccessLogEntry[] {
    return this.access().filter((entry) => entry.method === method && entry.url.pathname === pathname);
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
    return this.access().map((entry) => `${entry.method} ${entry.url.pathname}${entry.url.search} ${entry.status} ${entry.userAgent}`).join('\n');
  }
}

/**
 * The server batches its log lines and writes them on the next turn of its event loop, so a
 * request that has been answered may not be logged yet. Done when the output has not grown for
 * 200 ms; at most 5 s.
 */
async function quiet(server: ServerProcess): Promise<void> {
  const deadline = Date.now() + 5_000;
  let length = server.output().length;
  let quietSince = Date.now();
  while (Date.now() < deadline && Date.now() - quietSince < 200) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const now = server.output().length;
    if (now !== length) {
      length = now;
      quietSince = Date.now();
    }
  }
}

/** Starts reading `server`'s output once what it was still printing about earlier requests is out. */
export async function serverLog(server: ServerProcess): Promise<ServerLog> {
  await quiet(server);
  return new ServerLog(server);
}
