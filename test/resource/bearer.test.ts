import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import express from 'express';
import { StorageBusyError } from '../../src/errors.js';
import { errorHandler } from '../../src/http/error-response.js';
import { silentLogger } from '../../src/log.js';
import { bearerGuard, type AccessTokenLookup } from '../../src/resource/bearer.js';
import { request, type RawResponse } from '../support/raw-oauth.js';

const MCP_URL = 'http://localhost:8080/mcp';
const SSE_URL = 'http://localhost:8080/sse';
const RESOURCE_METADATA_URL = 'http://localhost:8080/.well-known/oauth-protected-resource/mcp';

interface FakeAccessToken {
  accountId?: string;
  clientId?: string;
  scope?: string;
  exp?: number;
  aud?: unknown;
}

/**
 * The one thing bearerGuard asks of storage: findAccessToken. This fake answers from a table
 * (synchronously, as SQLite does, or with a promise, as a networked backend would) and records
 * every lookup, so a test can tell whether the store was consulted at all.
 */
function fakeStore(tokens: Map<string, FakeAccessToken>, lookups: string[]): AccessTokenLookup {
  return {
    findAccessToken(token: string) {
      lookups.push(token);
      // What the store gives after its retries when another process holds the database past STORAGE_BUSY_TIMEOUT.
      if (token === BUSY_TOKEN) return Promise.reject(new StorageBusyError(2000, 2));
      const found = tokens.get(token);
      const facts = found && { accountId: found.accountId ?? null, clientId: found.clientId ?? null, scope: found.scope ?? null, aud: found.aud, exp: found.exp };
      return token.startsWith('async-') ? Promise.resolve(facts) : facts;
    },
  };
}

const BUSY_TOKEN = 'token-while-the-store-is-locked';

const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

describe('bearerGuard: the /mcp bearer check as Express middleware', () => {
  const tokens = new Map<string, FakeAccessToken>();
  const lookups: string[] = [];
  let reachedHandler: Array<{ clientId: string; subject: unknown; resource: string | undefined }> = [];
  /** The request headers the handler behind the guard could read. */
  let headersBehind: Array<{ headers: Record<string, unknown>; rawHeaders: string[]; headersDistinct: Record<string, unknown> }> = [];
  let server: Server;
  let url: string;

  before(async () => {
    const app = express();
    app.post('/mcp', bearerGuard(fakeStore(tokens, lookups), { audiences: [MCP_URL, SSE_URL], resourceMetadataUrl: RESOURCE_METADATA_URL }), (req, res) => {
      const auth = (req as express.Request & { auth?: { clientId: string; extra?: { subject?: unknown }; resource?: URL } }).auth!;
      reachedHandler.push({ clientId: auth.clientId, subject: auth.extra?.subject, resource: auth.resource?.href });
      headersBehind.push({ headers: { ...req.headers }, rawHeaders: [...req.rawHeaders], headersDistinct: { ...req.headersDistinct } });
      res.json({ ok: true });
    });
    app.use(errorHandler(silentLogger));
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    url = `http://127.0.0.1:${address.port}/mcp`;
  });
  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });
  beforeEach(() => {
    tokens.clear();
    lookups.length = 0;
    reachedHandler = [];
    headersBehind = [];
  });

  const call = (authorization?: string, headers: Record<string, string> = {}): Promise<RawResponse> =>
    request(url, { method: 'POST', headers: authorization === undefined ? headers : { ...headers, authorization } });

  function assertInvalidToken(answer: RawResponse, label: string): void {
    assert.equal(answer.status, 401, `${label}: ${answer.status} ${answer.text}`);
    const challenge = answer.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer /, `${label}: ${challenge}`);
    assert.match(challenge, /error="invalid_token"/, `${label}: ${challenge}`);
    assert.ok(challenge.includes(`resource_metadata="${RESOURCE_METADATA_URL}"`), `${label}: ${challenge}`);
    assert.equal(answer.json?.error, 'invalid_token', `${label}: ${answer.text}`);
    assert.equal(reachedHandler.length, 0, `${label}: the handler behind the guard never ran`);
  }

  it('passes a token issued for this MCP URL on to the next handler, with the caller\'s client, account and resource', async () => {
    tokens.set('good-token', { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate', exp: inAnHour(), aud: MCP_URL });
    const answer = await call('Bearer good-token');
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(reachedHandler, [{ clientId: 'app-1', subject: 'alice', resource: MCP_URL }]);
    assert.deepEqual(lookups, ['good-token']);
  });

  it('answers the same when the store answers with a promise (a networked backend) as when it answers at once (SQLite)', async () => {
    tokens.set('async-good', { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate', exp: inAnHour(), aud: MCP_URL });
    const answer = await call('Bearer async-good');
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(reachedHandler, [{ clientId: 'app-1', subject: 'alice', resource: MCP_URL }]);
    tokens.set('async-foreign', { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate', exp: inAnHour(), aud: 'https://other.example/mcp' });
    reachedHandler = [];
    assertInvalidToken(await call('Bearer async-foreign'), 'a promised answer for another resource');
  });

  it('refuses a token past its expiry with 401 error="invalid_token"', async () => {
    tokens.set('expired', { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate', exp: Math.floor(Date.now() / 1000) - 1, aud: MCP_URL });
    assertInvalidToken(await call('Bearer expired'), 'expired');
  });

  it('passes a token issued for the other door of the same server (aud /sse at /mcp): both serve the same tools and scopes', async () => {
    tokens.set('sse-token', { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate', exp: inAnHour(), aud: SSE_URL });
    const answer = await call('Bearer sse-token');
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(reachedHandler, [{ clientId: 'app-1', subject: 'alice', resource: SSE_URL }], 'the token still says which resource it was issued for');
  });

  it('refuses a token this server issued for another resource (aud https://other.example/mcp) with 401 error="invalid_token"', async () => {
    tokens.set('foreign-token', { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate', exp: inAnHour(), aud: 'https://other.example/mcp' });
    assertInvalidToken(await call('Bearer foreign-token'), 'aud of another resource');
    assert.deepEqual(lookups, ['foreign-token'], 'it was looked up, then refused for its audience');
    tokens.set('near-miss', { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate', exp: inAnHour(), aud: 'http://localhost:8080/' });
    assertInvalidToken(await call('Bearer near-miss'), 'aud of this origin, not one of its resources');
  });

  it('refuses a token with no audience at all with 401 error="invalid_token"', async () => {
    tokens.set('no-aud', { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate', exp: inAnHour() });
    assertInvalidToken(await call('Bearer no-aud'), 'no aud');
  });

  it('refuses an unknown token with 401 error="invalid_token"', async () => {
    assertInvalidToken(await call('Bearer never-issued'), 'unknown token');
    assert.deepEqual(lookups, ['never-issued']);
  });

  it('refuses a token without an account (a client-credentials token) with 401 error="invalid_token"', async () => {
    tokens.set('no-account', { clientId: 'app-1', scope: 'uuid:generate', exp: inAnHour(), aud: MCP_URL });
    assertInvalidToken(await call('Bearer no-account'), 'no account');
  });

  it('refuses an over-long token with 401 error="invalid_token" without looking it up', async () => {
    assertInvalidToken(await call(`Bearer ${'a'.repeat(4096)}`), 'over-long token');
    assert.deepEqual(lookups, [], 'the store was never asked');
  });

  it('answers 503 with Retry-After and a JSON-RPC error (not 500, not 401) when the token store is locked by another process past STORAGE_BUSY_TIMEOUT', async () => {
    const answer = await call(`Bearer ${BUSY_TOKEN}`);
    assert.equal(answer.status, 503, answer.text);
    assert.equal(answer.headers.get('retry-after'), '2');
    assert.equal(answer.headers.get('www-authenticate'), null, 'the token is not called invalid: the client keeps it');
    assert.equal(answer.json?.jsonrpc, '2.0', answer.text);
    assert.equal((answer.json?.error as { code?: unknown } | undefined)?.code, -32000, answer.text);
    assert.equal(reachedHandler.length, 0);
  });

  it('answers a request with no Authorization header with 401 and a challenge without an error code (RFC 6750 §3.1)', async () => {
    const answer = await call();
    assert.equal(answer.status, 401);
    const challenge = answer.headers.get('www-authenticate') ?? '';
    assert.equal(challenge, `Bearer resource_metadata="${RESOURCE_METADATA_URL}"`);
    assert.equal(reachedHandler.length, 0);
    assert.deepEqual(lookups, []);
  });

  it('reads the scheme case-insensitively and the token up to the next space, and refuses any other shape without looking it up', async () => {
    tokens.set('good-token', { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate', exp: inAnHour(), aud: MCP_URL });
    for (const header of ['bearer good-token', 'BEARER good-token', 'Bearer good-token and-more']) {
      const answer = await call(header);
      assert.equal(answer.status, 200, `${header}: ${answer.text}`);
    }
    assert.deepEqual(lookups, ['good-token', 'good-token', 'good-token']);
    reachedHandler = [];
    lookups.length = 0;
    for (const header of ['Bearer', 'Bearer ', 'Bearer  good-token', 'Bearergood-token', 'Basic good-token', 'good-token']) {
      const answer = await call(header);
      assert.equal(answer.status, 401, `${JSON.stringify(header)}: ${answer.text}`);
      assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token"/, JSON.stringify(header));
      assert.match(String(answer.json?.error_description), /Invalid Authorization header format/, JSON.stringify(header));
    }
    assert.deepEqual(lookups, [], 'no malformed header reached the store');
    assert.equal(reachedHandler.length, 0);
  });

  it('withholds the Authorization header from the handler behind it (neither in headers nor in rawHeaders) and keeps every other header', async () => {
    tokens.set('good-token', { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate', exp: inAnHour(), aud: MCP_URL });
    const answer = await call('Bearer good-token', { 'x-probe': 'kept', accept: 'application/json' });
    assert.equal(answer.status, 200, answer.text);
    const [seen] = headersBehind;
    assert.ok(seen, 'the handler ran');
    assert.equal('authorization' in seen.headers, false, `no authorization key: ${JSON.stringify(seen.headers)}`);
    assert.ok(!Object.values(seen.headers).some((value) => String(value).includes('good-token')), `the token is in no header: ${JSON.stringify(seen.headers)}`);
    assert.doesNotMatch(JSON.stringify(seen.headers), /authorization/i, 'serialized (as a tool would log or forward them), the headers name no Authorization');
    assert.equal(seen.headers['x-probe'], 'kept');
    assert.equal(seen.headers.accept, 'application/json');
    assert.ok(seen.rawHeaders.includes('x-probe') || seen.rawHeaders.includes('X-Probe'), JSON.stringify(seen.rawHeaders));
    assert.ok(!seen.rawHeaders.some((value) => /authorization|good-token/i.test(value)), `nothing of the token in rawHeaders: ${JSON.stringify(seen.rawHeaders)}`);
    // Node's other view of the same headers still works (it reads rawHeaders up to the count it parsed).
    assert.deepEqual(seen.headersDistinct['x-probe'], ['kept']);
    assert.doesNotMatch(JSON.stringify(seen.headersDistinct), /authorization|good-token/i);
  });
});

describe('bearerGuard: one caller per remembered token', () => {
  it('hands every request made with a remembered token the same caller, which no handler can change', async () => {
    // What the access-token cache does: the same facts object for as long as it remembers the token.
    const facts = { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate profile:read', aud: MCP_URL, exp: inAnHour() };
    const guard = bearerGuard({ findAccessToken: (token) => (token === 'good-token' ? facts : undefined) }, { audiences: [MCP_URL], resourceMetadataUrl: RESOURCE_METADATA_URL });
    const seen: unknown[] = [];
    const pass = () => {
      const req = { headers: { authorization: 'Bearer good-token' }, rawHeaders: ['Authorization', 'Bearer good-token'] } as unknown as express.Request & { auth?: { scopes: string[]; extra?: Record<string, unknown>; clientId: string } };
      let passed = false;
      guard(req, {} as express.Response, () => (passed = true));
      assert.ok(passed, 'the guard let the request through');
      seen.push(req.auth);
      return req.auth!;
    };
    const first = pass();
    assert.throws(() => first.scopes.push('admin'), TypeError, 'the scopes cannot be added to');
    assert.throws(() => { first.extra!.subject = 'mallory'; }, TypeError, 'the subject cannot be changed');
    assert.throws(() => { first.clientId = 'other'; }, TypeError, 'the client cannot be changed');
    const second = pass();
    assert.equal(second, first, 'the same caller, not a new one per request');
    assert.deepEqual([...second.scopes], ['uuid:generate', 'profile:read']);
    assert.equal(second.extra?.subject, 'alice');
  });

  it('still refuses a remembered token once it has expired', () => {
    const facts = { accountId: 'alice', clientId: 'app-1', scope: 'uuid:generate', aud: MCP_URL, exp: inAnHour() };
    const guard = bearerGuard({ findAccessToken: () => facts }, { audiences: [MCP_URL], resourceMetadataUrl: RESOURCE_METADATA_URL });
    const attempt = () => {
      const req = { headers: { authorization: 'Bearer good-token' }, rawHeaders: [] } as unknown as express.Request;
      let status = 0;
      const res = { status(code: number) { status = code; return this; }, set() { return this; }, json() { return this; } } as unknown as express.Response;
      let passed = false;
      guard(req, res, () => (passed = true));
      return passed ? 'passed' : status;
    };
    assert.equal(attempt(), 'passed');
    facts.exp = Math.floor(Date.now() / 1000) - 1;
    assert.equal(attempt(), 401, 'the caller made for it is not reused past the expiry');
  });
});
