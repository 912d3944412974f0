import net from 'node:net';

/**
 * HTTP/1.1 over a bare TCP socket, for requests no HTTP client would send: invalid UTF-8 and
 * control bytes in header values, garbage request lines, duplicated headers in any casing, bad
 * percent-encoding, headers past the server's limit. The caller writes the exact bytes; the answer
 * is parsed just enough to judge it (status, headers, body, de-chunked).
 */

export interface RawHttpAnswer {
  status: number;
  /** Header names lowercased; repeated headers joined with ", " (Set-Cookie: with "\n"). */
  headers: Record<string, string>;
  body: Buffer;
  /** The status line and headers as received (for failure messages). */
  head: string;
}

export interface RawHttpOptions {
  /** A HEAD request's answer has headers only. */
  head?: boolean;
  /** An event stream's headers are the answer (a GET stream stays open); otherwise its end is waited for. */
  openStream?: boolean;
  timeoutMs?: number;
}

/** What came back when no well-formed HTTP answer did (the server closed or reset the connection first). */
export class NoAnswerError extends Error {
  constructor(readonly reason: string, readonly received: Buffer) {
    super(`no HTTP answer: ${reason} (received ${received.length} bytes: ${JSON.stringify(received.subarray(0, 200).toString('latin1'))})`);
    this.name = 'NoAnswerError';
  }
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** An HTTP/1.x response head: status and headers (names lower-cased, repeats joined), or undefined if it is not one. */
export function parseHead(head: string): { status: number; headers: Record<string, string> } | undefined {
  const [statusLine, ...lines] = head.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!match) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}${name === 'set-cookie' ? '\n' : ', '}${value}` : value;
  }
  return { status: Number(match[1]), headers };
}

/** The body of a chunked answer, or undefined while the last chunk has not arrived. */
function dechunk(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(parts);
    const start = lineEnd + 2;
    if (data.length < start + size + 2) return undefined;
    parts.push(data.subarray(start, start + size));
    offset = start + size + 2;
  }
}

/** The complete answer in `data`, or undefined while more is expected (`closed`: nothing more will come). */
function answerIn(data: Buffer, closed: boolean, options: RawHttpOptions): RawHttpAnswer | undefined {
  const end = data.indexOf(HEAD_END);
  if (end < 0) return undefined;
  const head = data.subarray(0, end).toString('latin1');
  const parsed = parseHead(head);
  if (!parsed) return undefined;
  const rest = data.subarray(end + HEAD_END.length);
  const { status, headers } = parsed;
  // An interim answer (100 Continue, 103 Early Hints) comes before the real one.
  if (status >= 100 && status < 200 && status !== 101) return answerIn(rest, closed, options);
  const answer = (body: Buffer): RawHttpAnswer => ({ ...parsed, body, head });
  if (options.head || status === 204 || status === 304 || status === 101) return answer(Buffer.alloc(0));
  if (options.openStream && (headers['content-type'] ?? '').startsWith('text/event-stream')) return answer(rest);
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    return rest.length >= length ? answer(rest.subarray(0, length)) : undefined;
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const body = dechunk(rest);
    return body ? answer(body) : undefined;
  }
  return closed ? answer(rest) : undefined;
}

/** Writes `bytes` to host:port and reads one answer; rejects with NoAnswerError if none came. */
export function rawHttp(port: number, bytes: Buffer, options: RawHttpOptions = {}, host = '127.0.0.1'): Promise<RawHttpAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = net.connect({ port, host });
    const finish = (closed: boolean, reason: string) => {
      if (settled) return;
      const data = Buffer.concat(chunks);
      const answer = answerIn(data, closed, options);
      if (!answer && !closed) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (answer) resolve(answer);
      else reject(new NoAnswerError(reason, data));
    };
    const timer = setTimeout(() => finish(true, `no complete answer within ${options.timeoutMs ?? 10_000} ms`), options.timeoutMs ?? 10_000);
    // Not end(): Node's server aborts a request still being handled once the client half-closes,
    // which no real client does.
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      finish(false, '');
    });
    // The server may answer and close before reading the whole request (a refused oversized body):
    // the answer already received still counts.
    socket.on('error', (error: NodeJS.ErrnoException) => finish(true, error.code ?? error.message));
    socket.on('close', () => finish(true, 'connection closed'));
  });
}

export interface RawRequest {
  method: string;
  /** The request target exactly as sent (not encoded here; a string is sent as UTF-8). */
  target: string | Buffer;
  /** Header lines in order, sent as given (duplicates and any casing allowed); values may hold any bytes. */
  headers: Array<[string, string | Buffer]>;
  body?: Buffer;
}

/**
 * The bytes of `request`, with Host and Content-Length (when there is a body) added unless given.
 * No Connection: close: told to close, Node's server closes as soon as it has answered, and a body
 * it refused unread (413) then meets a reset that can discard the answer before it is read; kept
 * alive, it reads the rest and the answer arrives. rawHttp closes the connection itself.
 */
export function requestBytes(request: RawRequest, port: number): Buffer {
  const names = new Set(request.headers.map(([name]) => name.toLowerCase()));
  const headers = [...request.headers];
  if (!names.has('host')) headers.unshift(['Host', `localhost:${port}`]);
  if (request.body && !names.has('content-length') && !names.has('transfer-encoding')) headers.push(['Content-Length', String(request.body.length)]);
  const target = typeof request.target === 'string' ? Buffer.from(request.target, 'utf8') : request.target;
  const parts: Buffer[] = [Buffer.from(`${request.method} `, 'latin1'), target, Buffer.from(' HTTP/1.1\r\n')];
  for (const [name, value] of headers) parts.push(Buffer.from(`${name}: `, 'latin1'), typeof value === 'string' ? Buffer.from(value, 'utf8') : value, Buffer.from('\r\n'));
  parts.push(Buffer.from('\r\n'));
  if (request.body) parts.push(request.body);
  return Buffer.concat(parts);
}
