import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { answerClientError } from '../../src/http/parser-refusals.js';
import { rawHttp, requestBytes, type RawHttpAnswer } from '../support/raw-http.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

/** The JSON error body the listener writes for what Node's parser refused. */
function assertJsonError(answer: RawHttpAnswer, status: number): void {
  assert.equal(answer.status, status, answer.head);
  assert.match(answer.headers['content-type'] ?? '', /^application\/json/, answer.head);
  assert.equal(answer.headers.connection, 'close', answer.head);
  const body = JSON.parse(answer.body.toString('utf8')) as { error?: unknown; error_description?: unknown };
  assert.equal(body.error, 'invalid_request');
  assert.equal(typeof body.error_description, 'string');
}

describe('requests Node\'s HTTP parser refuses get a JSON error body and Connection: close', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  const healthy = async () => {
    const health = await rawHttp(server.port, requestBytes({ method: 'GET', target: '/healthz', headers: [] }, server.port));
    assert.equal(health.status, 200, health.head);
  };

  it('a 20 KiB header gets 431 with {"error":"invalid_request"} and Connection: close, and the server keeps answering', async () => {
    const bytes = requestBytes({ method: 'GET', target: '/healthz', headers: [['X-Padding', 'a'.repeat(20 * 1024)]] }, server.port);
    assertJsonError(await rawHttp(server.port, bytes), 431);
    await healthy();
  });

  it('a garbage request line gets 400 with {"error":"invalid_request"} and Connection: close, and the server keeps answering', async () => {
    assertJsonError(await rawHttp(server.port, Buffer.from('\x00\xff GARBAGE\r\n\r\n', 'latin1')), 400);
    await healthy();
  });

  it('a header value with a bare CR gets 400 with {"error":"invalid_request"}', async () => {
    const bytes = requestBytes({ method: 'GET', target: '/healthz', headers: [['X-Odd', Buffer.from('a\rb', 'latin1')]] }, server.port);
    assertJsonError(await rawHttp(server.port, bytes), 400);
  });

  it('a refused request whose client is still sending a 2 MiB body gets its 400 answer, not a connection reset (lingering close)', async () => {
    const bytes = requestBytes({ method: 'POST', target: '/mcp', headers: [['X-Odd', Buffer.from('a\u0001b', 'latin1')]], body: Buffer.alloc(2 * 1024 * 1024, 0x61) }, server.port);
    // Without the lingering close nearly every attempt ended in EPIPE; five in a row show it is not luck.
    for (let attempt = 0; attempt < 5; attempt += 1) assertJsonError(await rawHttp(server.port, bytes), 400);
    await healthy();
  });

  it('a CONNECT request gets 405 with {"error":"invalid_request"}, Allow and Connection: close (Node would close without a word)', async () => {
    const answer = await rawHttp(server.port, Buffer.from(`CONNECT localhost:1 HTTP/1.1\r\nHost: localhost:${server.port}\r\n\r\n`));
    assertJsonError(answer, 405);
    assert.match(answer.headers.allow ?? '', /GET/);
    await healthy();
  });

  it('an HTTP/1.1 request without Host gets 400 with {"error":"invalid_request"} (Node\'s own answer has no body)', async () => {
    assertJsonError(await rawHttp(server.port, Buffer.from('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n')), 400);
  });

  it('an Expect other than 100-continue is ignored: the endpoint answers in its own protocol (not Node\'s empty 417)', async () => {
    const health = await rawHttp(server.port, requestBytes({ method: 'GET', target: '/healthz', headers: [['Expect', 'something-else']] }, server.port));
    assert.equal(health.status, 200, health.head);
    const mcp = await rawHttp(server.port, requestBytes({ method: 'POST', target: '/mcp', headers: [['Expect', 'x'], ['Content-Type', 'application/json']], body: Buffer.from('{}') }, server.port));
    assert.equal(mcp.status, 401, mcp.head);
    assert.match(mcp.headers['www-authenticate'] ?? '', /^Bearer /);
  });

  it('a socket already destroyed when the parser error arrives is left alone: nothing thrown, nothing written', () => {
    const socket = new net.Socket();
    socket.destroy();
    let written = false;
    socket.write = () => (written = true);
    assert.doesNotThrow(() => answerClientError(Object.assign(new Error('Parse Error'), { code: 'HPE_INVALID_METHOD' }), socket));
    assert.equal(written, false);
    assert.equal(socket.destroyed, true);
  });
});
