import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import express from 'express';
import { CALLBACK_PATHS } from '../../src/authorization/upstream/routes.js';
import { StorageBusyError } from '../../src/errors.js';
import { errorHandler } from '../../src/http/error-response.js';
import type { Logger } from '../../src/log.js';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** An app whose `path` fails with `error`, behind the server's error handler; the answer, read whole before the server closes. */
async function failing(path: string, error: unknown): Promise<{ status: number; headers: Headers; text: string }> {
  const app = express();
  app.get(path, () => {
    throw error;
  });
  app.use(errorHandler(quiet));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
    return { status: response.status, headers: response.headers, text: await response.text() };
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

describe('error answers', () => {
  for (const path of Object.values(CALLBACK_PATHS)) {
    it(`${path} (where an upstream sends the browser back) answers a failure with an HTML page, not OAuth JSON`, async () => {
      for (const error of [new Error('boom'), new StorageBusyError(100, 1)]) {
        const answer = await failing(path, error);
        assert.match(answer.headers.get('content-type') ?? '', /^text\/html/, `${error.constructor.name}: ${answer.status}`);
        assert.match(answer.text, /<!DOCTYPE html>/);
      }
    });
  }

  it('/token still answers in OAuth JSON', async () => {
    const answer = await failing('/token', new Error('boom'));
    assert.equal(answer.status, 500);
    assert.equal((JSON.parse(answer.text) as { error: string }).error, 'server_error');
  });
});
