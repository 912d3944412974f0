import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { StreamableHTTPServerTransport, type StreamableHTTPServerTransportOptions } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { requestView } from './node-request-view.js';

/**
 * The SDK's Streamable HTTP transport with a cheaper way across Node and the web API. The SDK's Node
 * transport is a wrapper that hands each request to its web-standard transport through a generic
 * bridge (@hono/node-server: a request listener built per request, a full `Headers` per request,
 * an abort controller, a timer while it waits for the body): about a fifth of a `tools/call`'s CPU.
 * Here the same web-standard transport (the protocol: sessions, validation, SSE, resumability, all
 * the SDK's) gets a light view of the Node request, and its `Response` is written to the Node
 * response directly. It stays a `StreamableHTTPServerTransport`, so sessions and `server.connect`
 * see no difference.
 */
export class NodeStreamableHttpTransport extends StreamableHTTPServerTransport {
  readonly #web: WebStandardStreamableHTTPServerTransport;

  constructor(options: StreamableHTTPServerTransportOptions) {
    super(options);
    // The wrapper keeps the web-standard transport it delegates to in a private field; an SDK that
    // moved it must fail here, at the first session, not answer wrongly.
    const inner = (this as unknown as { _webStandardTransport?: unknown })._webStandardTransport;
    if (!(inner instanceof WebStandardStreamableHTTPServerTransport)) throw new Error('@modelcontextprotocol/sdk changed: StreamableHTTPServerTransport no longer wraps a WebStandardStreamableHTTPServerTransport');
    this.#web = inner;
  }

  override async handleRequest(req: IncomingMessage & { auth?: AuthInfo }, res: ServerResponse, parsedBody?: unknown): Promise<void> {
    const response = await this.#web.handleRequest(requestView(req), { authInfo: req.auth, parsedBody });
    await writeResponse(response, res);
  }
}

const NEXT_TURN = Symbol('next turn');
let nextTurn: Promise<typeof NEXT_TURN> | undefined;

/** Settles when the event loop next reaches its check phase; one timer shared by every request of this turn. */
function untilNextTurn(): Promise<typeof NEXT_TURN> {
  nextTurn ??= new Promise((resolve) =>
    setImmediate(() => {
      nextTurn = undefined;
      resolve(NEXT_TURN);
    }),
  );
  return nextTurn;
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

/**
 * Writes a web `Response` to a Node response. What the body has produced before the event loop
 * turns is gathered first: a call whose answer is ready by then (most are) goes out whole, in one
 * write with a Content-Length, SSE or not. A stream still open then (a GET stream, a slow tool, its
 * progress notifications) is sent as it comes, its headers at once. A client that leaves cancels
 * the stream, which is how the transport learns it.
 */
async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  const headers: OutgoingHttpHeaders = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const body = response.body;
  if (body === null) {
    res.writeHead(response.status, headers).end();
    return;
  }
  const reader = body.getReader();
  let finished = false;
  const cancel = () => {
    if (!finished) void reader.cancel().catch(() => undefined);
  };
  res.once('close', cancel);
  try {
    const gathered: Uint8Array[] = [];
    let pending = reader.read();
    for (;;) {
      const next = await Promise.race([pending, untilNextTurn()]);
      if (next === NEXT_TURN) break;
      if (next.done) {
        finished = true;
        const whole = gathered.length === 1 ? gathered[0]! : Buffer.concat(gathered);
        headers['content-length'] = whole.byteLength;
        res.writeHead(response.status, headers).end(whole);
        return;
      }
      gathered.push(next.value);
      pending = reader.read();
    }
    res.writeHead(response.status, headers);
    if (gathered.length === 0) res.flushHeaders();
    for (const chunk of gathered) res.write(chunk);
    for (;;) {
      const next = await pending;
      if (next.done) break;
      if (res.destroyed) return;
      // A client that reads slowly holds the rest in the stream, not in the socket's buffer.
      if (!res.write(next.value)) await drainedOrClosed(res);
      pending = reader.read();
    }
    finished = true;
    res.end();
  } catch (error) {
    // The stream failed (or was cancelled because the client left): end what was started.
    finished = true;
    if (!res.headersSent && !res.destroyed) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null }));
    else res.destroy(error instanceof Error ? error : undefined);
  } finally {
    res.off('close', cancel);
  }
}
