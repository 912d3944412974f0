import http from 'node:http';
import type { RequestListener } from 'node:http';
import type { Duplex } from 'node:stream';
import { StartupError } from '../errors.js';

export interface Listening {
  /** The port actually bound (useful when 0 was asked for). */
  port: number;
  /**
   * Stops accepting connections, lets requests under way finish for up to `graceMs`, then cuts what
   * is left. Resolves when every connection is gone.
   */
  close(graceMs: number): Promise<void>;
}

function listenOne(handler: RequestListener, port: number, host: string): Promise<http.Server> {
  // Node's own Host check answers a bare 400 with no body; requireHostHeader() says why in JSON.
  const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 20_000, maxHeaderSize: 16 * 1024, requireHostHeader: false }, requireHostHeader(handler));
  // MCP SSE streams stay open for long; only the request phase is bounded (requestTimeout above).
  server.keepAliveTimeout = 65_000;
  server.on('clientError', answerClientError);
  // Node would close a CONNECT without a word.
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => writeRawError(socket, 405, 'Method Not Allowed', 'CONNECT is not served here', 'Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\n'));
  // An Expect other than 100-continue would get Node's empty 417; ignoring it is allowed (RFC 9110
  // §10.1.1) and lets the endpoint answer in its own protocol.
  server.on('checkExpectation', requireHostHeader(handler));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Status and description for what Node's HTTP parser refused (its codes: llhttp's HPE_*, Node's ERR_HTTP_*). */
function clientErrorAnswer(code: string | undefined): { status: number; reason: string; description: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'Request Header Fields Too Large', description: 'The request headers are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'Request Timeout', description: 'The request was not received in time' };
    default:
      return { status: 400, reason: 'Bad Request', description: 'The request could not be parsed as HTTP/1.1' };
  }
}

/**
 * Node answers a request its parser refuses (headers over maxHeaderSize, a garbage request line)
 * with a bare status line and no body; clients and proxies then see an empty answer. This one says
 * what was wrong as OAuth-style JSON (`error`, `error_description`): no route was matched, so no
 * other protocol applies. The connection is closed since the parser's state is lost.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // The parser goes on reading what the client still sends (and reports an error for each chunk)
  // while the connection lingers: it has been answered.
  if (lingering.has(socket)) return;
  // A reset connection, or one already half-written (Node does the same check): nothing can be said.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const { status, reason, description } = clientErrorAnswer(error.code);
  writeRawError(socket, status, reason, description);
}

const errorBody = (description: string) => JSON.stringify({ error: 'invalid_request', error_description: description });

/** An error answer written straight to a socket no ServerResponse owns, and the connection closed. */
function writeRawError(socket: Duplex, status: number, reason: string, description: string, extraHeaders = ''): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = errorBody(description);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n${extraHeaders}Connection: close\r\n\r\n${body}`,
  );
  lingerThenClose(socket);
}

/** How long a refused client may go on sending what it had started (a large body) before the connection is cut. */
const LINGER_MS = 2_000;

/**
 * Closing a connection the client is still writing to makes the kernel answer with a reset, which
 * can discard the error answer before the client reads it. So the rest of the request is read and
 * dropped until the client closes its side, or for LINGER_MS at most (a "lingering close").
 */
const lingering = new WeakSet<Duplex>();

function lingerThenClose(socket: Duplex): void {
  lingering.add(socket);
  const cut = setTimeout(() => socket.destroy(), LINGER_MS);
  cut.unref();
  socket.once('close', () => clearTimeout(cut));
  socket.on('error', () => socket.destroy());
  socket.resume();
}

/** The same answer for a request Node parsed but no route should see; the connection is closed after it. */
function writeJsonError(res: http.ServerResponse, status: number, description: string): void {
  const body = errorBody(description);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', Connection: 'close' });
  res.end(body);
}

/** HTTP/1.1 requires Host (RFC 9112 §3.2): a request without one is refused with 400, as Node would, but with a body. */
export function requireHostHeader(handler: RequestListener): RequestListener {
  return (req, res) => {
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      writeJsonError(res, 400, 'The Host header is required');
      return;
    }
    handler(req, res);
  };
}

/**
 * Listens on every host in `hosts` (e.g. 127.0.0.1 and ::1 for "localhost"). The first must work;
 * later ones are skipped if the machine lacks that address family.
 */
export async function listen(handler: RequestListener, hosts: string[], port: number): Promise<Listening> {
  const servers: http.Server[] = [];
  let bound = port;
  for (const [index, host] of hosts.entries()) {
    try {
      const server = await listenOne(handler, bound, host);
      const address = server.address();
      if (address && typeof address === 'object') bound = address.port;
      servers.push(server);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (index > 0 && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')) continue;
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      if (code === 'EADDRINUSE') throw new StartupError(`PORT ${bound} is already in use on ${host}; stop the other process or set PORT`, { cause: error });
      if (code === 'EACCES') throw new StartupError(`PORT ${bound} on ${host} needs privileges this user lacks; set PORT above 1023`, { cause: error });
      throw new StartupError(`cannot listen on ${host}:${bound} (${code ?? String(error)}); check HOST and PORT`, { cause: error });
    }
  }
  return {
    port: bound,
    close: (graceMs) => closeAll(servers, graceMs),
  };
}

async function closeAll(servers: http.Server[], graceMs: number): Promise<void> {
  const closed = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  // Idle keep-alive connections would hold close() open; requests under way are left to finish.
  const idle = setInterval(() => servers.forEach((server) => server.closeIdleConnections()), 100);
  servers.forEach((server) => server.closeIdleConnections());
  const deadline = setTimeout(() => servers.forEach((server) => server.closeAllConnections()), graceMs);
  try {
    await closed;
  } finally {
    clearInterval(idle);
    clearTimeout(deadline);
  }
}
