import type http from 'node:http';
import type { RequestListener } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * What Node's HTTP server answers itself, before any route, said in JSON (`error`,
 * `error_description`) instead of a bare status line: requests its parser refuses, CONNECT, a
 * missing Host. No route was matched, so no other protocol applies.
 */

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
 * A request the parser refused (headers over maxHeaderSize, a garbage request line), which Node
 * would answer with a bare status line. The connection is closed since the parser's state is lost.
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

/** Sockets answered and lingering. */
const lingering = new WeakSet<Duplex>();

/**
 * Closing a connection the client is still writing to makes the kernel answer with a reset, which
 * can discard the error answer before the client reads it. So the rest of the request is read and
 * dropped until the client closes its side, or for LINGER_MS at most (a "lingering close").
 */
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

/** Node would close a CONNECT without a word. */
export function answerConnect(_req: http.IncomingMessage, socket: Duplex): void {
  writeRawError(socket, 405, 'Method Not Allowed', 'CONNECT is not served here', 'Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\n');
}
