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
