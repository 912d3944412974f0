import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SSE_HEADERS, SseResponse } from '../../src/resource/sse-response.js';
import { sleep } from '../support/time-limit.js';

/**
 * An SSE answer on /mcp: whole, with a Content-Length, when it is complete within the turn it
 * started in; otherwise streamed, with a keep-alive comment while it stays open so proxies do not
 * cut it.
 */
describe('an SSE answer on /mcp', () => {
  let server: http.Server;
  let url: string;
  const streams: SseResponse[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      const sse = new SseResponse(res, SSE_HEADERS, 30);
      streams.push(sse);
      sse.start();
      sse.write('data: first\n\n');
      if (req.url === '/whole') sse.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('complete within its first turn: sent whole, with a Content-Length and no keep-alive', async () => {
    const response = await fetch(`${url}/whole`);
    assert.equal(response.headers.get('content-length'), String(Buffer.byteLength('data: first\n\n')));
    assert.equal(await response.text(), 'data: first\n\n');
  });

  it('still open: streamed, with a keep-alive comment every interval until it ends', async () => {
    const response = await fetch(`${url}/open`);
    assert.equal(response.headers.get('content-length'), null);
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    await sleep(150); // five intervals
    streams.at(-1)!.end();
    const text = await response.text();
    assert.ok(text.startsWith('data: first\n\n'), text);
    const keepAlives = text.split(': keepalive\n\n').length - 1;
    assert.ok(keepAlives >= 2, `${keepAlives} keep-alive comments in ${JSON.stringify(text)}`);
  });
});
