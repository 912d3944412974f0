import { request, type RawResponse, type ServerLike } from './raw-oauth.js';

/**
 * A raw client for MCP's 2024-11-05 HTTP+SSE transport, on fetch: it opens `GET /sse`, reads the
 * event stream as it arrives (every wait bounded), and posts to the endpoint the stream names. It
 * interprets nothing beyond the SSE framing, so a test sees exactly what the server sent.
 */

export interface SseEvent {
  event: string;
  data: string;
}

export interface LegacyServer extends ServerLike {
  /** The legacy transport's URL, `…/sse`. */
  sseUrl: string;
}

const DEFAULT_WAIT_MS = 10_000;

/** An open (or refused) `GET /sse`. */
export class SseStream {
  readonly #events: SseEvent[] = [];
  readonly #waiters: (() => void)[] = [];
  #ended = false;
  /** Resolves when the server ends the stream (or the connection drops). */
  readonly ended: Promise<void>;

  private constructor(readonly status: number, readonly headers: Headers, readonly text: string | undefined, private readonly controller: AbortController, body: ReadableStream<Uint8Array> | null) {
    this.ended = body ? this.#read(body) : Promise.resolve();
    if (!body) this.#ended = true;
  }

  /** `GET url` with `token` as Bearer (undefined: no Authorization); a non-stream answer is read whole into `text`. */
  static async open(url: string, token: string | undefined, headers: Record<string, string> = {}): Promise<SseStream> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer to GET ${url} within ${DEFAULT_WAIT_MS} ms`)), DEFAULT_WAIT_MS);
    try {
      const response = await fetch(url, {
        headers: { accept: 'text/event-stream', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers },
        signal: controller.signal,
      });
      if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        const text = await response.text();
        return new SseStream(response.status, response.headers, text, controller, null);
      }
      return new SseStream(response.status, response.headers, undefined, controller, response.body);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next event, waiting up to `ms`; fails if the stream ends first. */
  async next(ms = DEFAULT_WAIT_MS): Promise<SseEvent> {
    const deadline = Date.now() + ms;
    while (this.#events.length === 0) {
      if (this.#ended) throw new Error('the event stream ended');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#events.shift()!;
  }

  /** Events received and not yet taken with next(). */
  get pending(): readonly SseEvent[] {
    return this.#events;
  }

  get isEnded(): boolean {
    return this.#ended;
  }

  close(): void {
    this.controller.abort();
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.search(/\r?\n\r?\n/); end !== -1; end = buffer.search(/\r?\n\r?\n/)) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
          const event = parseEvent(block);
          if (event) this.#events.push(event);
        }
        this.#wake();
      }
    } catch {
      // Aborted by close(), or the connection dropped: either way the stream is over.
    } finally {
      this.#ended = true;
      this.#wake();
    }
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

/** One SSE event block (WHATWG HTML §9.2.6): `event:` (default "message") and `data:` lines joined with \n. */
function parseEvent(block: string): SseEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length > 0 ? { event, data: data.join('\n') } : undefined;
}

/** An open legacy session: the stream, and the endpoint its first event named. */
export interface LegacySession {
  stream: SseStream;
  endpoint: URL;
  sessionId: string;
}

/** Opens `GET /sse` and reads the `endpoint` event; throws unless the server opened a stream and named one. */
export async function openLegacySession(server: LegacyServer, token: string): Promise<LegacySession> {
  const stream = await SseStream.open(server.sseUrl, token);
  if (stream.status !== 200 || stream.text !== undefined) throw new Error(`GET /sse: ${stream.status} ${stream.text ?? ''}`);
  const first = await stream.next();
  if (first.event !== 'endpoint') throw new Error(`the first event was "${first.event}", not "endpoint": ${first.data}`);
  const endpoint = new URL(first.data, server.sseUrl);
  const sessionId = endpoint.searchParams.get('sessionId');
  if (!sessionId) throw new Error(`no sessionId in the endpoint ${first.data}`);
  return { stream, endpoint, sessionId };
}

export interface PostOptions {
  /** Raw body text instead of the JSON of the message. */
  rawBody?: string;
  headers?: Record<string, string>;
}

/** POST one message to the session's endpoint (or any URL) with `token` as Bearer. */
export function postMessage(endpoint: URL | string, token: string | undefined, message: unknown, options: PostOptions = {}): Promise<RawResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return request(endpoint, { method: 'POST', headers, body: options.rawBody ?? JSON.stringify(message) });
}

/** The JSON-RPC message of the next `message` event on the stream. */
export async function nextMessage(stream: SseStream, ms?: number): Promise<Record<string, unknown>> {
  const event = await stream.next(ms);
  if (event.event !== 'message') throw new Error(`expected a "message" event, got "${event.event}": ${event.data}`);
  return JSON.parse(event.data) as Record<string, unknown>;
}

/** Sends a request and returns its answer from the stream: the POST is accepted with 202, the answer comes as an event. */
export async function call(session: LegacySession, token: string, message: { id: number | string; [field: string]: unknown }): Promise<Record<string, unknown>> {
  const posted = await postMessage(session.endpoint, token, message);
  if (posted.status !== 202) throw new Error(`POST ${session.endpoint.pathname}: ${posted.status} ${posted.text}`);
  const answer = await nextMessage(session.stream);
  if (answer.id !== message.id) throw new Error(`expected the answer to ${message.id}, got ${JSON.stringify(answer)}`);
  return answer;
}
