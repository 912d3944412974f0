import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { parseHead } from './raw-http.js';

/**
 * HTTP seen from the wire, for the shutdown tests: what became of each request (answered in full,
 * refused at connect, failed before any answer, cut in the middle of one), which fetch would blur
 * into "fetch failed".
 */

/** How a request ended: refused at connect, failed before any answer, answered in full, or cut in the middle of its answer. */
type Ending =
  | { kind: 'answered'; status: number; headers: IncomingHttpHeaders; body: string }
  | { kind: 'refused'; code: string }
  | { kind: 'failed-before-answer'; code: string; connected: boolean }
  | { kind: 'cut-mid-answer'; status: number; code: string };

export type Outcome = Ending & { sentAt: number; doneAt: number };

export interface OneShotRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One request on a connection of its own (no keep-alive agent): a new client connection each time. */
export function oneShot(port: number, spec: OneShotRequest): Promise<Outcome> {
  const sentAt = Date.now();
  return new Promise((settle) => {
    const resolve = (ending: Ending) => settle({ ...ending, sentAt, doneAt: Date.now() });
    let connected = false;
    const request = http.request({ host: '127.0.0.1', port, method: spec.method, path: spec.path, headers: { host: `localhost:${port}`, ...spec.headers }, agent: false, timeout: 30_000 });
    request.on('socket', (socket) => socket.once('connect', () => (connected = true)));
    request.on('timeout', () => request.destroy(Object.assign(new Error('no answer within 30 s'), { code: 'TIMEOUT' })));
    request.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? error.message;
      resolve(code === 'ECONNREFUSED' ? { kind: 'refused', code } : { kind: 'failed-before-answer', code, connected });
    });
    request.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ kind: 'answered', status: response.statusCode!, headers: response.headers, body }));
      response.on('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'cut-mid-answer', status: response.statusCode!, code: error.code ?? error.message }));
      response.on('aborted', () => resolve({ kind: 'cut-mid-answer', status: response.statusCode!, code: 'aborted' }));
    });
    request.end(spec.body);
  });
}

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Responses read off one connection, in order; each must carry Content-Length (ours do). */
export function parseResponses(wire: string): { responses: WireResponse[]; rest: string } {
  const responses: WireResponse[] = [];
  let rest = Buffer.from(wire);
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return { responses, rest: rest.toString() };
    const head = rest.subarray(0, end).toString('latin1');
    const parsed = parseHead(head);
    if (!parsed) throw new Error(`not an HTTP response: ${head.split('\r\n')[0]}`);
    const { status, headers } = parsed;
    if (headers['content-length'] === undefined) throw new Error(`a response without Content-Length: ${head.split('\r\n')[0]}`);
    const bodyEnd = end + 4 + Number(headers['content-length']);
    if (rest.length < bodyEnd) return { responses, rest: rest.toString() };
    responses.push({ status, headers, body: rest.subarray(end + 4, bodyEnd).toString() });
    rest = rest.subarray(bodyEnd);
  }
}

export interface RawConnection {
  write(text: string): void;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves when the server has closed the connection: 'end' for a clean close (FIN), else the error code (ECONNRESET). */
  closed: Promise<'end' | string>;
}

/** A kept-alive connection driven by hand: the test decides what is sent when. */
export async function rawConnection(port: number): Promise<RawConnection> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  const closed = new Promise<'end' | string>((resolve) => {
    socket.once('end', () => resolve('end'));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  return { write: (text) => socket.write(text), received: () => received, closed };
}
