import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { armSseKeepAlive, DEFAULT_SSE_KEEP_ALIVE_MS } from '@modelcontextprotocol/sdk/server/sseKeepAlive.js';

/** The headers of every SSE answer on /mcp, as the SDK's transport sends them. */
export const SSE_HEADERS: Readonly<OutgoingHttpHeaders> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

const KEEP_ALIVE_FRAME = ': keepalive\n\n';

/** Writers that started in this turn of the event loop; one timer for all of them. */
let startedThisTurn: SseResponse[] | undefined;

function atNextTurn(writer: SseResponse): void {
  if (startedThisTurn === undefined) {
    startedThisTurn = [];
    setImmediate(() => {
      const writers = startedThisTurn!;
      startedThisTurn = undefined;
      for (const each of writers) each.nextTurn();
    });
  }
  startedThisTurn.push(writer);
}

/**
 * One SSE stream on a Node response. What is written before the event loop turns after `start()`
 * is gathered: a call answered by then (most are) goes out whole, in one write with a
 * Content-Length. A stream still open then (a GET stream, a slow tool, its progress notifications)
 * gets its headers at once, is sent as it comes, and carries a keep-alive comment every
 * `keepAliveMs` so proxies do not cut it. Before `start()` everything is held, so the transport can
 * still answer with an error instead.
 */
export class SseResponse {
  #state: 'held' | 'gathering' | 'streaming' | 'ended' = 'held';
  #endRequested = false;
  #chunks: string[] = [];
  #keepAlive: ReturnType<typeof armSseKeepAlive>;
  readonly #onClose = () => {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#chunks = [];
    clearInterval(this.#keepAlive);
    this.onClientLeft?.();
  };

  /** Called once if the client goes away before the stream ended. */
  onClientLeft: (() => void) | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly headers: OutgoingHttpHeaders,
    private readonly keepAliveMs = DEFAULT_SSE_KEEP_ALIVE_MS,
  ) {
    if (res.closed) this.#state = 'ended';
    else res.once('close', this.#onClose);
  }

  /** False once the stream has ended (or its client left): nothing more can be sent on it. */
  get open(): boolean {
    return this.#state !== 'ended' && !this.#endRequested;
  }

  write(text: string): boolean {
    if (!this.open) return false;
    if (this.#state === 'streaming') this.res.write(text);
    else this.#chunks.push(text);
    return true;
  }

  /** Ends the stream once what was written has gone out. */
  end(): void {
    if (!this.open) return;
    if (this.#state === 'held') {
      this.#endRequested = true;
      return;
    }
    if (this.#state === 'gathering') this.#sendWhole();
    else {
      this.#finish();
      this.res.end();
    }
  }

  /** The answer is this stream: from now on, what is written within this turn goes out together. */
  start(): void {
    if (this.#state !== 'held') return;
    if (this.#endRequested) {
      this.#endRequested = false;
      this.#sendWhole();
      return;
    }
    this.#state = 'gathering';
    atNextTurn(this);
  }

  /** The stream will not be the answer after all (the transport answers with an error): let go of the response. */
  discard(): void {
    this.#finish();
  }

  /** @internal The turn in which the stream started is over. */
  nextTurn(): void {
    if (this.#state !== 'gathering') return;
    this.#state = 'streaming';
    const { res } = this;
    res.writeHead(200, this.headers);
    if (this.#chunks.length === 0) res.flushHeaders();
    else res.write(this.#chunks.length === 1 ? this.#chunks[0]! : this.#chunks.join(''));
    this.#chunks = [];
    this.#keepAlive = armSseKeepAlive(this.keepAliveMs, () => this.write(KEEP_ALIVE_FRAME));
  }

  #sendWhole(): void {
    const body = this.#chunks.length === 1 ? this.#chunks[0]! : this.#chunks.join('');
    this.#finish();
    this.res.writeHead(200, { ...this.headers, 'content-length': Buffer.byteLength(body) }).end(body);
  }

  #finish(): void {
    this.#state = 'ended';
    this.#chunks = [];
    clearInterval(this.#keepAlive);
    this.res.off('close', this.#onClose);
  }
}
