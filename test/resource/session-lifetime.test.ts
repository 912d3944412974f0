import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import express, { type RequestHandler } from 'express';
import { createMcpServer } from '../../mcp.js';
import { errorHandler } from '../../src/http/error-response.js';
import { silentLogger } from '../../src/log.js';
import { bearerGuard, type AccessTokenLookup } from '../../src/resource/bearer.js';
import { legacySseEndpoint, WatchedSseTransport, type StreamLimits } from '../../src/resource/legacy-sse-endpoint.js';
import { mcpEndpoint } from '../../src/resource/mcp-endpoint.js';
import { SessionRegistry } from '../../src/resource/sessions.js';
import { collectGarbage } from '../support/collect-garbage.js';
import { FormBrowser } from '../support/form-browser.js';
import { initializeMessage, openSession, RawOAuthClient, request } from '../support/raw-oauth.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { postMessage } from '../support/sse-stream.js';
import { eventually, sleep, within } from '../support/time-limit.js';

/**
 * How long sessions live, seen from the wire: a session exists while someone can use it. Nothing a
 * client does by going away (before its request is handled, by vanishing mid-stream, or by no
 * longer reading) keeps one alive, and none is opened once shutdown has begun.
 */

const MIB = 1024 * 1024;
const RESOURCE = 'http://localhost/mcp';
const TOKEN = 'token-of-alice';
const CALLER = { subject: 'alice', clientId: 'app' };

/** The one call bearerGuard makes of storage, answering for a single valid token. */
const store: AccessTokenLookup = {
  findAccessToken(token: string) {
    if (token !== TOKEN) return undefined;
    return { accountId: CALLER.subject, clientId: CALLER.clientId, scope: 'uuid:generate profile:read', exp: Math.floor(Date.now() / 1000) + 3600, aud: RESOURCE };
  },
};
const tokenCheck = bearerGuard(store, { audiences: [RESOURCE], resourceMetadataUrl: 'http://localhost/.well-known/oauth-protected-resource/mcp' });

interface Listening {
  url: string;
  close(): Promise<void>;
}

/** /mcp and /sse as app.ts mounts them, over `sessions`, behind `guards`, on a free port. */
async function serveEndpoints(sessions: SessionRegistry, guards: RequestHandler[], streamLimits?: StreamLimits): Promise<Listening> {
  const app = express();
  const createServer = () => createMcpServer({ userProfile: async () => ({ error: 'no users here' }) });
  app.use(mcpEndpoint({ guards, createServer, sessions, log: silentLogger, maxBodyBytes: MIB }));
  app.use(legacySseEndpoint({ guards, createServer, sessions, log: silentLogger, maxBodyBytes: MIB, streamLimits }));
  app.use(errorHandler(silentLogger));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Sends a whole request head and closes the connection once it is written: a client that gives up at once. */
function abandon(url: string, head: string): Promise<void> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(head, () => socket.destroy()));
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
}

function head(method: string, path: string, headers: Record<string, string>): string {
  return [`${method} ${path} HTTP/1.1`, 'Host: localhost', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), '', ''].join('\r\n');
}

describe('a client that leaves while its token is being checked', () => {
  const sessions = new SessionRegistry({ idleTtlMs: 60_000, perCaller: 3, total: 100 }, silentLogger);
  /** Requests that got past the slow check. */
  let checked = 0;
  /**
   * A token check slower than the client's patience (a store across the network, under load):
   * it finishes only after the client has closed the connection.
   */
  const outlastTheClient: RequestHandler = (_req, res, next) => {
    res.once('close', () => {
      checked += 1;
      next();
    });
  };
  let patient: Listening;
  let slow: Listening;
  before(async () => {
    patient = await serveEndpoints(sessions, [tokenCheck]);
    slow = await serveEndpoints(sessions, [outlastTheClient, tokenCheck]);
  });
  after(async () => {
    await sessions.closeAll();
    await patient?.close();
    await slow?.close();
  });

  /** Abandons `request` at the slow server and waits until its handler has run. */
  async function abandonAndWait(request: string): Promise<void> {
    const before = checked;
    await abandon(slow.url, request);
    await eventually(() => assert.equal(checked, before + 1), 5_000, 20);
    // The guard called next() on the response's close; the handler behind it runs within this turn.
    await nextTurn();
    await nextTurn();
  }

  it('GET /sse: no session is opened, none is left counting against the caller\'s cap', async () => {
    for (let n = 0; n < 3; n += 1) await abandonAndWait(head('GET', '/sse', { Authorization: `Bearer ${TOKEN}`, Accept: 'text/event-stream' }));
    assert.equal(sessions.size, 0, 'no session for a client that is gone');
    assert.doesNotThrow(() => sessions.admit(CALLER), 'the caller may still open a session (3 per caller here)');
  });

  it('GET /mcp on an open session: the abandoned request does not count, so the session still becomes idle and is evicted', async () => {
    const sessionId = await openSession({ url: patient.url, mcpUrl: `${patient.url}/mcp` }, TOKEN);
    await abandonAndWait(head('GET', '/mcp', { Authorization: `Bearer ${TOKEN}`, Accept: 'text/event-stream', 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': '2025-06-18' }));
    assert.equal(sessions.get(sessionId, 'streamable')?.inFlight, 0);
    assert.equal(sessions.sweep(Date.now() + 60_000), 1, 'evicted once idle for the TTL');
    assert.equal(sessions.get(sessionId, 'streamable'), undefined);
  });
});


describe('what an idle /mcp session holds', () => {
  it('nothing of the requests that opened it: their request and response objects can be collected while the session stays open', async () => {
    const sessions = new SessionRegistry({ idleTtlMs: 60_000, perCaller: 10, total: 10 }, silentLogger);
    const seen: WeakRef<object>[] = [];
    const watch: RequestHandler = (req, res, next) => {
      seen.push(new WeakRef(req), new WeakRef(res));
      next();
    };
    const endpoints = await serveEndpoints(sessions, [watch, tokenCheck]);
    try {
      await openSession({ url: endpoints.url, mcpUrl: `${endpoints.url}/mcp` }, TOKEN);
      assert.equal(sessions.size, 1);
      assert.equal(seen.length, 4, 'initialize and notifications/initialized');
      await collectGarbage();
      assert.deepEqual(seen.map((ref) => ref.deref()?.constructor.name ?? 'collected'), ['collected', 'collected', 'collected', 'collected']);
    } finally {
      await sessions.closeAll();
      await endpoints.close();
    }
  });
});

describe('/sse keep-alive', () => {
  const sessions = new SessionRegistry({ idleTtlMs: 60_000, perCaller: 3, total: 100 }, silentLogger);
  let server: Listening;
  before(async () => {
    server = await serveEndpoints(sessions, [tokenCheck], { keepAliveMs: 50, maxBufferedBytes: MIB });
  });
  after(async () => {
    await sessions.closeAll();
    await server?.close();
  });

  it('a quiet stream gets an SSE comment every keepAliveMs (which clients ignore); when the client goes, the session goes', async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.url}/sse`, { headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' }, signal: controller.signal });
    assert.equal(response.status, 200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    // Every read is bounded: with no keep-alive the stream stays silent.
    const timer = setTimeout(() => controller.abort(), 5_000);
    try {
      while ((text.match(/^: keepalive\n\n/gm)?.length ?? 0) < 3) {
        const { value, done } = await reader.read();
        assert.equal(done, false, text);
        text += value;
      }
    } catch (error) {
      assert.fail(`three keep-alive comments within 5 s; got ${JSON.stringify(text)} (${String(error)})`);
    } finally {
      clearTimeout(timer);
    }
    assert.match(text, /^event: endpoint\ndata: \/messages\?sessionId=[0-9a-f-]{36}\n\n(: keepalive\n\n)+$/, 'the endpoint event, then only comments');
    assert.equal(sessions.size, 1);
    controller.abort();
    await eventually(() => assert.equal(sessions.size, 0), 5_000, 20);
  });
});

describe('/sse at shutdown: closing the transport', () => {
  let server: http.Server | undefined;
  after(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('stops the keep-alive first: the answers still waiting for a slow reader are all delivered, then the stream ends (no write after its end)', async () => {
    const transports: WatchedSseTransport[] = [];
    server = http.createServer((_req, res) => {
      const transport = new WatchedSseTransport('/messages', res, { keepAliveMs: 10, maxBufferedBytes: 64 * MIB });
      void transport.start().then(() => transports.push(transport));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const stream = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`http://127.0.0.1:${(server!.address() as AddressInfo).port}/sse`, resolve).on('error', reject);
    });
    stream.pause();
    const received: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => received.push(chunk));
    const ended = new Promise<boolean>((resolve) => stream.once('close', () => resolve(stream.complete)));
    const transport = await eventually(() => transports[0] ?? assert.fail('the stream is not open yet'), 5_000, 10);

    // Answers of 0.5 MiB each, more than the sockets' own buffers hold for a client not reading.
    const answers = 8;
    const bigId = 'x'.repeat(MIB / 2);
    for (let n = 0; n < answers; n += 1) await transport.send({ jsonrpc: '2.0', id: `${bigId}${n}`, result: {} });
    await transport.close();
    await sleep(200); // twenty keep-alive periods pass while the answers still wait
    stream.resume();
    assert.equal(await within(ended, 10_000, 'the stream ending'), true, 'ended in full, not cut');
    const text = Buffer.concat(received).toString();
    assert.equal(text.match(/^event: message$/gm)?.length, answers, 'every answer delivered');
    assert.match(text, /\n\n$/, 'the last event whole');
  });
});

/** Writes `head` (and `body`) on a new connection, and reads everything until the server closes it. */
function rawExchange(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  return {
    write: (text: string) => new Promise<void>((resolve, reject) => socket.write(text, (error) => (error ? reject(error) : resolve()))),
    /** The whole answer, once the server closed the connection (at most `ms`). */
    async answer(ms: number): Promise<{ status: number; body: string }> {
      const timer = setTimeout(() => socket.destroy(), ms);
      await closed;
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1]);
      return { status, body: received.slice(received.indexOf('\r\n\r\n') + 4) };
    },
  };
}

describe('the real server: a client that stops reading, and shutdown', () => {
  let server: ServerProcess;
  let sseToken: string;
  let mcpToken: string;
  before(async () => {
    server = await startServerProcess();
    const client = await RawOAuthClient.registerLoopback(server);
    const browser = new FormBrowser(server.url);
    sseToken = (await client.authorize(browser, ADMIN, { resource: server.sseUrl })).access_token;
    mcpToken = (await client.authorize(browser, ADMIN)).access_token;
  });
  after(async () => {
    await server?.stop();
  });

  it('a client that posts to /messages but never reads its stream: once 1 MiB of answers waits for it, the stream and the session end', async () => {
    // A stream read only up to its endpoint event.
    const stalled = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(server.sseUrl, { headers: { authorization: `Bearer ${sseToken}`, accept: 'text/event-stream' } }, resolve).on('error', reject);
    });
    stalled.on('error', () => undefined);
    const endpoint = new URL(await new Promise<string>((resolve) => stalled.once('data', (chunk: Buffer) => resolve(/data: (\S+)/.exec(chunk.toString())![1]!))), server.url);
    stalled.pause();
    const sessionId = endpoint.searchParams.get('sessionId')!;

    // Each answer echoes its request id: half a mebibyte per ping.
    const bigId = 'x'.repeat(MIB / 2);
    const statuses: number[] = [];
    for (let n = 0; n < 200 && statuses.at(-1) !== 404; n += 1) {
      statuses.push((await postMessage(endpoint, sseToken, { jsonrpc: '2.0', id: `${bigId}${n}`, method: 'ping' })).status);
    }
    assert.equal(statuses.at(-1), 404, `the session ended (${statuses.length} posts: ${[...new Set(statuses)].join(', ')})`);
    assert.ok(statuses.length < 100, `after a bounded amount (${statuses.length} answers of 0.5 MiB, most of them in the sockets' own buffers)`);
    await eventually(() => assert.match(server.output(), new RegExp(`mcp\\.session_closed session=${sessionId.slice(0, 8)}[^\\n]*reason=not_reading`)));
    assert.equal(stalled.complete, false, 'cut, not ended');
    stalled.destroy();
  });

  it('once shutdown has begun, a request that arrives on a connection already open gets 503 for a new session (/sse and /mcp), and the server exits at once', { timeout: 30_000 }, async () => {
    // Two connections in the middle of a request when the signal arrives: a GET /sse whose head
    // is not finished, a POST /mcp initialize whose body is not.
    const sse = rawExchange(server.port);
    await sse.write(`GET /sse HTTP/1.1\r\nHost: localhost:${server.port}\r\nAuthorization: Bearer ${sseToken}\r\nAccept: text/event-stream\r\n`);
    const body = JSON.stringify(initializeMessage(1));
    const mcp = rawExchange(server.port);
    await mcp.write(`POST /mcp HTTP/1.1\r\nHost: localhost:${server.port}\r\nAuthorization: Bearer ${mcpToken}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`);
    // A round trip after them, so the server has read both: neither connection is idle, and
    // shutdown waits for them.
    await eventually(async () => assert.equal((await request(`${server.url}/healthz`)).status, 200));
    // That round trip may be answered before the server's loop has got to the other two connections'
    // bytes (seen on a loaded machine: POST /mcp then met the shutdown gate instead of the registry);
    // a moment more lets it parse both heads before the signal.
    await sleep(250);

    const started = Date.now();
    const exited = server.stop();
    await eventually(() => assert.match(server.output(), /server\.stopping/), 5_000, 20);
    await sse.write('\r\n');
    await mcp.write(body.slice(10));
    // GET /sse's head is completed after the signal, so the shutdown gate answers it; POST /mcp's
    // head was read before, so that request is past the gate and the session registry refuses it.
    const refusals = [
      ['GET /sse', sse, 'The server is shutting down; try again shortly'],
      ['POST /mcp', mcp, 'Server shutting down: no new sessions; try again shortly'],
    ] as const;
    for (const [path, exchange, message] of refusals) {
      const answer = await exchange.answer(15_000);
      assert.equal(answer.status, 503, `${path}: ${answer.body.slice(0, 300)}`);
      assert.equal(JSON.parse(answer.body).error?.message, message, path);
      assert.equal(JSON.parse(answer.body).error?.code, -32000, path);
    }
    assert.equal(await exited, 0);
    assert.ok(Date.now() - started < 5_000, `exited promptly, not after the 10 s grace (${Date.now() - started} ms)`);
  });
});
