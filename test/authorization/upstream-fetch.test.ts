import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { upstreamJson } from '../../src/authorization/upstream/upstream-fetch.js';
import { UpstreamError } from '../../src/errors.js';

describe('a request to an upstream (upstreamJson)', () => {
  let server: http.Server;
  let base: string;
  before(async () => {
    server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/endless') {
        // An answer that never ends: only the size cap can stop reading it before the 10 s timeout.
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const more = () => { while (res.write(chunk)); };
        res.on('drain', more);
        more();
        req.socket.on('close', () => res.off('drain', more));
        return;
      }
      res.end(JSON.stringify({ login: 'octocat' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reads a JSON answer', async () => {
    assert.deepEqual(await upstreamJson('GitHub', `${base}/user`, {}), { status: 200, body: { login: 'octocat' } });
  });

  it('stops reading an answer past 1 MiB at once, with an UpstreamError, rather than holding it or waiting for the timeout', async () => {
    const started = Date.now();
    await assert.rejects(upstreamJson('GitHub', `${base}/endless`, {}), (error: unknown) => {
      assert.ok(error instanceof UpstreamError);
      assert.match(error.message, /too large to be one/);
      return true;
    });
    assert.ok(Date.now() - started < 5_000, `refused after ${Date.now() - started} ms`);
  });
});
