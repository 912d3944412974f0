import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import express, { type RequestHandler } from 'express';
import { createMcpServer } from '../../mcp.js';
import { errorHandler } from '../../src/http/error-response.js';
import { handlerChain } from '../../src/http/handler-chain.js';
import { silentLogger } from '../../src/log.js';
import { mcpEndpoint } from '../../src/resource/mcp-endpoint.js';
import { SessionRegistry } from '../../src/resource/sessions.js';
import { initializeMessage, PROTOCOL_VERSION } from '../support/raw-oauth.js';
import { within } from '../support/time-limit.js';

/**
 * The shorter paths a `POST /mcp` takes (src/resource/node-streamable-transport.ts, which reads
 * Node's request directly, src/http/json-body.ts, the dispatch in app.ts) answer exactly as the
 * general ones they stand in for: the SDK's web Headers, express.json, the router.
 */

const MIB = 1024 * 1024;
const CALLER = { subject: 'alice', clientId: 'app' };
/** Stands in for the bearer guard: what it leaves on a request that passed. */
const signedIn: RequestHandler = (req, _res, next) => {
  req.auth = { token: '', clientId: CALLER.clientId, scopes: ['uuid:generate'], extra: { subject: CALLER.subject } };
  next();
};

/** A time limit that only guards against a hang. */
const hangGuard = <T>(ms: number, what: string, promise: Promise<T>) => within(promise, ms, what);

interface Listening {
  port: number;
  close(): Promise<void>;
}

async function listen(handler: http.RequestListener): Promise<Listening> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** /mcp as app.ts mounts it: the dispatch for an exact `POST /mcp` ahead of the router, which takes everything else. */
function mcpApp(sessions: SessionRegistry | undefined) {
  const app = express();
  const mcp = mcpEndpoint({ guards: [signedIn], createServer: () => createMcpServer({ userProfile: async () => ({ error: 'no users here' }) }), sessions, log: silentLogger, maxBodyBytes: MIB });
  const fast = handlerChain(mcp.postChain);
  app.use((req, res, next) => {
    if (req.method === 'POST' && req.url === '/mcp') fast(req, res, next);
    else next();
  });
  app.use(mcp);
  app.use(errorHandler(silentLogger));
  return app;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A POST, its body sent with a Content-Length or chunked (which only express.json reads). */
function post(port: number, path: string, body: string | Buffer, options: { chunked?: boolean; headers?: Record<string, string> } = {}): Promise<Answer> {
  return hangGuard(10_000, 'POST', new Promise<Answer>((resolve, reject) => {
    const headers: Record<string, string | number> = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': PROTOCOL_VERSION, ...options.headers };
    if (!options.chunked) headers['Content-Length'] = Buffer.byteLength(body);
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    if (options.chunked) {
      // Two writes, so the body really goes out in chunks.
      const bytes = Buffer.from(body);
      req.write(bytes.subarray(0, 1));
      req.end(bytes.subarray(1));
    } else req.end(body);
  }));
}

describe('the headers the transport reads, as the SDK\'s web Headers would', () => {
  let server: Listening;
  before(async () => {
    server = await listen(mcpApp(undefined));
  });
  after(() => server.close());

  /** A POST /mcp from raw header lines (repeats included), as Node parses them. */
  function rawPost(lines: string[], body: string): Promise<{ status: number; text: string }> {
    return hangGuard(5_000, 'raw POST', new Promise((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1', () =>
        socket.write(`POST /mcp HTTP/1.1\r\nHost: localhost:${server.port}\r\n${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('error', reject);
      socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), text: text.slice(text.indexOf('\r\n\r\n') + 4) }));
    }));
  }

  const toolsList = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
  const accept = 'Accept: application/json, text/event-stream';

  it('two Content-Type lines are read joined, as a web Headers reads them, and are not JSON: 415 with a JSON-RPC error (Node keeps only the first)', async () => {
    const answer = await rawPost([accept, 'Content-Type: application/json', 'content-type: text/plain'], toolsList);
    assert.equal(answer.status, 415, answer.text);
    assert.match(answer.text, /"error":\{"code":-32000,"message":"Unsupported Media Type: Content-Type must be application\/json"\},"id":null/);
    const one = await rawPost([accept, 'Content-Type: application/json'], toolsList);
    assert.equal(one.status, 200, one.text);
  });

  it('repeated Accept lines are joined: JSON in one and SSE in the other is both (200); neither is 406', async () => {
    const split = await rawPost(['Accept: application/json', 'ACCEPT: text/event-stream', 'Content-Type: application/json'], toolsList);
    assert.equal(split.status, 200, split.text);
    const neither = await rawPost(['Accept: text/html', 'Content-Type: application/json'], toolsList);
    assert.equal(neither.status, 406, neither.text);
    assert.match(neither.text, /"code":-32000,"message":"Not Acceptable: Client must accept both application\/json and text\/event-stream"/);
  });

  it('sees what an earlier handler changed in req.headers: an Accept of */* filled in is accepted (200)', async () => {
    const answer = await rawPost(['Accept: */*', 'Content-Type: application/json'], toolsList);
    assert.equal(answer.status, 200, answer.text);
  });

  it('an unsupported MCP-Protocol-Version is 400 with the SDK\'s message', async () => {
    const answer = await rawPost([accept, 'Content-Type: application/json', 'MCP-Protocol-Version: 1999-01-01'], toolsList);
    assert.equal(answer.status, 400, answer.text);
    assert.match(answer.text, /"message":"Bad Request: Unsupported protocol version: 1999-01-01 \(supported versions: [^)]+\)"/);
  });
});

describe('POST /mcp: the short body reader answers as express.json does', () => {
  let server: Listening;
  before(async () => {
    server = await listen(mcpApp(undefined));
  });
  after(() => server.close());

  const toolsList = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' });
  const bodies: Array<[string, string | Buffer]> = [
    ['a JSON-RPC request', toolsList],
    ['the same after a UTF-8 byte-order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(toolsList)])],
    ['the same after JSON whitespace', ` \t\r\n${toolsList}`],
    ['a JSON string (not an object or array)', '"tools/list"'],
    ['a number', '42'],
    ['malformed JSON', '{"jsonrpc":'],
    ['an empty object', '{}'],
    ['an empty array', '[]'],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ];
  for (const [what, body] of bodies) {
    it(`${what}: the same status and JSON-RPC body with a Content-Length (read here) as chunked (read by express.json)`, async () => {
      const short = await post(server.port, '/mcp', body);
      const general = await post(server.port, '/mcp', body, { chunked: true });
      assert.equal(short.status, general.status);
      assert.equal(short.body, general.body);
      assert.ok(short.status < 500, `${short.status} ${short.body}`);
    });
  }

  it('an empty body (Content-Length: 0) is read as {} by both, and refused as no JSON-RPC message: 400, not 500', async () => {
    const short = await post(server.port, '/mcp', '');
    assert.equal(short.status, 400);
    assert.match(short.body, /"jsonrpc":"2.0","error":\{"code":-32700/);
  });

  it('a charset parameter goes to express.json: utf-8 is read (200), latin1 gets 415 with a JSON-RPC error', async () => {
    const utf8 = await post(server.port, '/mcp', toolsList, { headers: { 'Content-Type': 'application/json; charset=utf-8' } });
    assert.equal(utf8.status, 200, utf8.body);
    const latin1 = await post(server.port, '/mcp', toolsList, { headers: { 'Content-Type': 'application/json; charset=latin1' } });
    assert.equal(latin1.status, 415);
    assert.match(latin1.body, /"jsonrpc":"2.0","error":\{"code":-32600/);
  });

  it('POST /mcp?query and POST /mcp/ (which the dispatch leaves to the router) answer as POST /mcp does', async () => {
    const exact = await post(server.port, '/mcp', toolsList);
    assert.equal(exact.status, 200, exact.body);
    for (const path of ['/mcp?x=1', '/mcp/']) {
      const other = await post(server.port, path, toolsList);
      assert.equal(other.status, exact.status, path);
      assert.equal(other.body, exact.body, path);
    }
  });
});

describe('the transport\'s answers written to the Node response', () => {
  let server: Listening;
  let registry: SessionRegistry;
  before(async () => {
    registry = new SessionRegistry({ idleTtlMs: 60_000, perCaller: 10, total: 100 }, silentLogger);
    server = await listen(mcpApp(registry));
  });
  after(async () => {
    await registry.closeAll();
    await server.close();
  });

  it('an SSE answer complete within the turn goes out whole: 200 text/event-stream with a Content-Length and the session id, the result in one event', async () => {
    const opened = await post(server.port, '/mcp', JSON.stringify(initializeMessage(1)));
    assert.equal(opened.status, 200, opened.body);
    assert.equal(opened.headers['content-type'], 'text/event-stream');
    assert.equal(opened.headers['content-length'], String(Buffer.byteLength(opened.body)));
    const sessionId = opened.headers['mcp-session-id'];
    assert.equal(typeof sessionId, 'string');
    const call = await post(server.port, '/mcp', JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'generate_uuid', arguments: {} } }), { headers: { 'Mcp-Session-Id': sessionId as string } });
    assert.equal(call.status, 200, call.body);
    assert.equal(call.headers['content-length'], String(Buffer.byteLength(call.body)));
    assert.match(call.body, /^event: message\nid: [^\n]+\ndata: \{"result":\{"content":\[\{"type":"text","text":"[0-9a-f-]{36}"/);
  });

  it('a stream that stays open (GET /mcp) gets its headers at once, chunked, and the session counts it until the client leaves', async () => {
    const opened = await post(server.port, '/mcp', JSON.stringify(initializeMessage(1)));
    const sessionId = opened.headers['mcp-session-id'] as string;
    const stream = await hangGuard(5_000, 'GET /mcp headers', new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: '/mcp', headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': PROTOCOL_VERSION } }, resolve).on('error', reject);
    }));
    assert.equal(stream.statusCode, 200);
    assert.equal(stream.headers['content-type'], 'text/event-stream');
    assert.equal(stream.headers['transfer-encoding'], 'chunked');
    const session = registry.sessionOf(sessionId, 'streamable', CALLER);
    assert.equal(session.inFlight, 1);
    stream.destroy();
    await hangGuard(5_000, 'the stream released', (async () => {
      while (session.inFlight !== 0) await new Promise((resolve) => setTimeout(resolve, 10));
    })());
    // The standalone stream was cancelled, so the client may open another: 200, not 409.
    const again = await hangGuard(5_000, 'a second GET /mcp', new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: '/mcp', headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': PROTOCOL_VERSION } }, resolve).on('error', reject);
    }));
    assert.equal(again.statusCode, 200);
    again.destroy();
  });
});
