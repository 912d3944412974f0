import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { visibleText } from '../support/forms.js';
import { freePort } from '../support/free-port.js';
import { asPage, formWithAction, FormBrowser } from '../support/form-browser.js';
import { consentPage, signInPage } from '../support/page-steps.js';
import { initializeMessage, mcpRequest, openSession, PROTOCOL_VERSION, RawOAuthClient, request, tokensOf, type McpReply, type RawResponse, type ServerLike, type Tokens } from '../support/raw-oauth.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sleep } from '../support/time-limit.js';
import { assertOAuthError } from '../support/oauth-assertions.js';
import { assertTokenAccepted } from '../support/token-checks.js';

const toolsList = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/list' });

/** A request inside a session that the server still has: 200 with a result. */
async function assertSessionAlive(server: ServerLike, token: string, sessionId: string, label: string): Promise<void> {
  const reply = await mcpRequest(server, token, toolsList(7), { sessionId });
  assert.equal(reply.status, 200, `${label}: ${reply.status} ${reply.text}`);
  assert.ok(reply.message?.result, `${label}: ${reply.text}`);
}

/** 404 with JSON-RPC error -32001 "Session not found" (the MCP transport spec's answer for an unknown session). */
function assertSessionNotFound(reply: McpReply, label: string): void {
  assert.equal(reply.status, 404, `${label}: ${reply.status} ${reply.text}`);
  const error = reply.json?.error as { code?: number; message?: string } | undefined;
  assert.equal(error?.code, -32001, `${label}: ${reply.text}`);
  assert.equal(error?.message, 'Session not found', `${label}: ${reply.text}`);
}

/** POST with a JSON body: `body` serialized, or `raw` exactly as given. */
function postJson(url: string, body: unknown, headers: Record<string, string> = {}, raw?: string): Promise<RawResponse> {
  return request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw ?? JSON.stringify(body) });
}

describe('MCP sessions per user and client (MCP_MAX_SESSIONS_PER_USER=2)', () => {
  let server: ServerProcess;
  let tokens: Tokens;
  before(async () => {
    server = await startServerProcess({ env: { MCP_MAX_SESSIONS_PER_USER: '2' } });
    tokens = await (await RawOAuthClient.registerLoopback(server)).authorize(new FormBrowser(server.url), ADMIN);
  });
  after(async () => {
    await server?.stop();
  });

  it('a third initialize by the same user and client succeeds, and their least recently used idle session is closed: 404 Session not found', async () => {
    const oldest = await openSession(server, tokens.access_token);
    await sleep(20);
    const middle = await openSession(server, tokens.access_token);
    await sleep(20);
    await assertSessionAlive(server, tokens.access_token, oldest, 'the first session before the third opens');
    // The first was used last: the middle one is now the least recently used.
    await sleep(20);
    const third = await mcpRequest(server, tokens.access_token, initializeMessage(1));
    assert.equal(third.status, 200, third.text);
    assert.ok(third.sessionId, 'a new session');
    assertSessionNotFound(await mcpRequest(server, tokens.access_token, toolsList(2), { sessionId: middle }), 'the least recently used session');
    await assertSessionAlive(server, tokens.access_token, oldest, 'the more recently used session');
    await assertSessionAlive(server, tokens.access_token, third.sessionId, 'the new session');
  });

  it('a session is bound to its client: the same user through another client presenting its id gets 404 -32001, and the owner keeps it', async () => {
    const sessionId = await openSession(server, tokens.access_token);
    const otherClientTokens = await (await RawOAuthClient.registerLoopback(server)).authorize(new FormBrowser(server.url), ADMIN);
    assertSessionNotFound(await mcpRequest(server, otherClientTokens.access_token, toolsList(3), { sessionId }), 'same user, another client');
    await assertSessionAlive(server, tokens.access_token, sessionId, 'the owner afterwards');
  });
});

describe('idle MCP sessions (MCP_SESSION_IDLE_TTL=2s)', () => {
  let server: ServerProcess;
  let tokens: Tokens;
  before(async () => {
    server = await startServerProcess({ env: { MCP_SESSION_IDLE_TTL: '2s' } });
    tokens = await (await RawOAuthClient.registerLoopback(server)).authorize(new FormBrowser(server.url), ADMIN);
  });
  after(async () => {
    await server?.stop();
  });

  it('a session unused for 3.5 s gets 404 Session not found, while one used every 0.7 s in the meantime stays open', async () => {
    const idle = await openSession(server, tokens.access_token);
    const busy = await openSession(server, tokens.access_token);
    const started = Date.now();
    while (Date.now() - started < 3_500) {
      await sleep(700);
      await assertSessionAlive(server, tokens.access_token, busy, 'the session in use');
    }
    assertSessionNotFound(await mcpRequest(server, tokens.access_token, toolsList(4), { sessionId: idle }), 'the idle session');
    await assertSessionAlive(server, tokens.access_token, busy, 'the session in use, at the end');
  });
});

describe('request bodies and paths the server cannot read', () => {
  let server: ServerProcess;
  let tokens: Tokens;
  before(async () => {
    server = await startServerProcess();
    tokens = await (await RawOAuthClient.registerLoopback(server)).authorize(new FormBrowser(server.url), ADMIN);
  });
  after(async () => {
    await server?.stop();
  });

  it('a gzip-compressed body to /mcp gets 415 with a JSON-RPC error (not 500), though the same body uncompressed works', async () => {
    const body = JSON.stringify(initializeMessage(1));
    const reply = await request(server.mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokens.access_token}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': PROTOCOL_VERSION,
      },
      body: gzipSync(body),
    });
    assert.equal(reply.status, 415, reply.text);
    assert.equal(reply.json?.jsonrpc, '2.0', reply.text);
    assert.equal(typeof (reply.json?.error as { code?: unknown } | undefined)?.code, 'number', reply.text);
    assert.equal(reply.json?.id, null);
    assert.equal(reply.headers.get('mcp-session-id'), null, 'no session was opened');
    await assertTokenAccepted(server, tokens.access_token, 'uncompressed');
  });

  it('a gzip-compressed body to /register gets 415 with an OAuth error (not 500), and registers nothing', async () => {
    const reply = await request(`${server.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' })),
    });
    assertOAuthError(reply, 415, 'invalid_request');
    assert.equal(reply.json?.client_id, undefined);
  });

  it('GET /interaction/%E0%A4%A (a malformed percent-encoding) gets a 400 page, not 500', async () => {
    const answer = await request(`${server.url}/interaction/%E0%A4%A`);
    assert.equal(answer.status, 400, answer.text.slice(0, 300));
    assert.match(answer.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(answer.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.doesNotMatch(answer.text, /URIError|at decode/, 'no stack trace on the page');
  });
});

const MIB = 1024 * 1024;
const KIB = 1024;

/** A body of exactly `bytes` bytes: `prefix`, padding, `suffix`. */
function padded(bytes: number, prefix: string, suffix = ''): string {
  const body = `${prefix}${'a'.repeat(bytes - prefix.length - suffix.length)}${suffix}`;
  assert.equal(Buffer.byteLength(body), bytes);
  return body;
}

/** A JSON-RPC message of exactly `bytes` bytes (padding in params._meta). */
const jsonRpcOf = (bytes: number) => padded(bytes, '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"pad":"', '"}}}');
/** A JSON object of exactly `bytes` bytes. */
const jsonOf = (bytes: number) => padded(bytes, '{"pad":"', '"}');
/** A form body of exactly `bytes` bytes. */
const formOf = (bytes: number, fields: Record<string, string> = {}) => padded(bytes, `${new URLSearchParams(fields).toString()}&pad=`);

describe('request body size limits, per endpoint family: one byte past each gets 413 in its own format', () => {
  let server: ServerProcess;
  let client: RawOAuthClient;
  let tokens: Tokens;
  before(async () => {
    server = await startServerProcess();
    client = await RawOAuthClient.registerLoopback(server);
    tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
  });
  after(async () => {
    await server?.stop();
  });

  const mcpPost = (body: string) => request(server.mcpUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': PROTOCOL_VERSION },
    body,
  });

  it('/mcp: 1 MiB + 1 byte gets 413 with a JSON-RPC error (id null); exactly 1 MiB is read (400 no session, not 413)', async () => {
    const tooLarge = await mcpPost(jsonRpcOf(MIB + 1));
    assert.equal(tooLarge.status, 413, tooLarge.text.slice(0, 300));
    assert.equal(tooLarge.json?.jsonrpc, '2.0', tooLarge.text.slice(0, 300));
    assert.equal((tooLarge.json?.error as { code?: unknown } | undefined)?.code, -32600);
    assert.equal(tooLarge.json?.id, null);
    const atLimit = await mcpPost(jsonRpcOf(MIB));
    assert.equal(atLimit.status, 400, atLimit.text.slice(0, 300));
    assert.match(String((atLimit.json?.error as { message?: unknown } | undefined)?.message), /No valid session ID/);
  });

  it('/register: 32 KiB + 1 byte gets 413 invalid_request (OAuth JSON, no-store) and registers nothing; exactly 32 KiB is read (400 for the metadata, not 413)', async () => {
    const tooLarge = await postJson(`${server.url}/register`, undefined, {}, jsonOf(32 * KIB + 1));
    assertOAuthError(tooLarge, 413, 'invalid_request', '/register');
    assert.equal(tooLarge.json?.client_id, undefined);
    const atLimit = await postJson(`${server.url}/register`, undefined, {}, jsonOf(32 * KIB));
    assert.equal(atLimit.status, 400, atLimit.text.slice(0, 300));
  });

  for (const path of ['/token', '/revoke', '/introspect']) {
    it(`${path}: a form or JSON body of 32 KiB + 1 byte gets 413 invalid_request (OAuth JSON, no-store); a 32 KiB form is read`, async () => {
      const url = `${server.url}${path}`;
      const fields: Record<string, string> = path === '/token' ? { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.clientId } : { token: tokens.access_token, client_id: client.clientId };
      const form = (bytes: number) => request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: formOf(bytes, fields) });
      assertOAuthError(await form(32 * KIB + 1), 413, 'invalid_request', `${path} form`);
      assertOAuthError(await postJson(url, undefined, {}, jsonOf(32 * KIB + 1)), 413, 'invalid_request', `${path} JSON`);
      const atLimit = await form(32 * KIB);
      assert.notEqual(atLimit.status, 413, `${path} at the limit: ${atLimit.text.slice(0, 300)}`);
      assert.ok(atLimit.status < 500, `${path} at the limit: ${atLimit.status}`);
    });
  }

  it('/interaction/:uid/login and /confirm: a form of 8 KiB + 1 byte gets a 413 HTML page (frame-ancestors \'none\'), not a sign-in', async () => {
    const browser = new FormBrowser(server.url);
    const login = signInPage(await browser.open(client.authorizationRequest().url));
    const form = formWithAction(login, '/login');
    for (const action of [form.action, form.action.replace(/\/login$/, '/confirm')]) {
      const url = new URL(action, login.url);
      const answer = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.url, cookie: browser.cookieHeader(url) },
        body: formOf(8 * KIB + 1, { ...form.fields, username: ADMIN.username, password: ADMIN.password }),
      });
      assert.equal(answer.status, 413, `${url.pathname}: ${visibleText(answer.text).slice(0, 300)}`);
      assert.match(answer.headers.get('content-type') ?? '', /^text\/html/, url.pathname);
      assert.match(answer.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, url.pathname);
      assert.match(visibleText(answer.text), /too large/i, url.pathname);
    }
  });
});

describe('JSON bodies and CORS at /token', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  it('the authorization code exchange sent as application/json gets 200 with tokens that work at /mcp', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const { code, request: authRequest } = await client.signIn(new FormBrowser(server.url), ADMIN);
    const answer = await postJson(`${server.url}/token`, { grant_type: 'authorization_code', code, code_verifier: authRequest.verifier, redirect_uri: client.redirectUri, client_id: client.clientId });
    const tokens = tokensOf(answer);
    await assertTokenAccepted(server, tokens.access_token);
  });

  it('a refresh sent as application/json gets 200 with new, rotated tokens', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const first = await client.authorize(new FormBrowser(server.url), ADMIN);
    const answer = await postJson(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: client.clientId });
    const second = tokensOf(answer);
    assert.notEqual(second.refresh_token, first.refresh_token, 'rotated');
    await assertTokenAccepted(server, second.access_token);
  });

  it('a JSON array as the body gets 400 invalid_request', async () => {
    const client = await RawOAuthClient.registerLoopback(server);
    const answer = await postJson(`${server.url}/token`, [{ grant_type: 'refresh_token', refresh_token: 'x', client_id: client.clientId }]);
    assertOAuthError(answer, 400, 'invalid_request');
    assert.equal(answer.json?.access_token, undefined);
  });

  it('a token request from the origin of the client\'s redirect URI gets Access-Control-Allow-Origin; from another origin it is refused with 400 invalid_request and none', async () => {
    const client = await RawOAuthClient.register(server, ['https://app.example/cb']);
    const exchangeFrom = async (origin: string) => {
      const { code, request: authRequest } = await client.signIn(new FormBrowser(server.url), ADMIN);
      return request(`${server.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: authRequest.verifier, redirect_uri: client.redirectUri, client_id: client.clientId }),
      });
    };

    const allowed = await exchangeFrom('https://app.example');
    tokensOf(allowed);
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example');

    const refused = await exchangeFrom('https://evil.example');
    assertOAuthError(refused, 400, 'invalid_request');
    assert.match(String(refused.json?.error_description), /origin https:\/\/evil\.example not allowed/);
    assert.equal(refused.json?.access_token, undefined);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
  });
});

describe('sign-in limit (LOGIN_RATE_LIMIT=3)', () => {
  let server: ServerProcess;
  let client: RawOAuthClient;
  before(async () => {
    server = await startServerProcess({ env: { LOGIN_RATE_LIMIT: '3' } });
    client = await RawOAuthClient.registerLoopback(server);
  });
  after(async () => {
    await server?.stop();
  });

  it('sign-in posts refused for a missing CSRF token (403) do not count: after five of them the real sign-in still succeeds', async () => {
    const browser = new FormBrowser(server.url);
    const login = signInPage(await browser.open(client.authorizationRequest().url));
    const form = formWithAction(login, '/login');
    const url = new URL(form.action, login.url);
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      // A cross-site form post: this browser's cookies, no CSRF token.
      const answer = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.url, cookie: browser.cookieHeader(url) },
        body: new URLSearchParams({ username: ADMIN.username, password: 'not-the-password' }),
      });
      assert.equal(answer.status, 403, `attempt ${attempt}: ${answer.status}`);
    }
    const signedIn = await browser.submit(login, form, { username: ADMIN.username, password: ADMIN.password });
    consentPage(signedIn, 'the real sign-in');
  });

  it('three wrong passwords lock further sign-ins from that address with a 429 page, even with the right password', async () => {
    const browser = new FormBrowser(server.url);
    let page = signInPage(await browser.open(client.authorizationRequest().url));
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      page = asPage(await browser.submit(page, formWithAction(page, '/login'), { username: ADMIN.username, password: `wrong-password-${attempt}` }));
      assert.equal(page.status, 401, `wrong password ${attempt}`);
      assert.match(visibleText(page.html), /Wrong username or password/);
    }
    const locked = asPage(await browser.submit(page, formWithAction(page, '/login'), { username: ADMIN.username, password: ADMIN.password }));
    assert.equal(locked.status, 429);
    assert.match(visibleText(locked.html), /Too many failed sign-ins from your address/);
    assert.ok(Number(locked.headers.get('retry-after')) > 0, 'Retry-After');
    assert.match(locked.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  });
});

describe('behind a TLS proxy: whose X-Forwarded-* headers are believed', () => {
  const body = { redirect_uris: ['http://127.0.0.1:4000/cb'], token_endpoint_auth_method: 'none' };

  it('with TRUST_PROXY naming another address, a direct client is refused with 400 "only reachable over https" even when it sends X-Forwarded-Proto: https', async () => {
    const port = await freePort();
    const server = await startServerProcess({ port, env: { PUBLIC_URL: `https://localhost:${port}`, TRUST_PROXY: '10.9.9.9', REGISTRATION_RATE_LIMIT: '2' } });
    try {
      const direct = `http://localhost:${port}`;
      for (let attempt = 1; attempt <= 3; attempt += 1) {
        const answer = await postJson(`${direct}/register`, body, { 'x-forwarded-proto': 'https', 'x-forwarded-for': `198.51.100.${attempt}` });
        assertOAuthError(answer, 400, 'invalid_request', `registration ${attempt}`);
        assert.match(String(answer.json?.error_description), /only reachable over https/);
      }
      const mcp = await postJson(`${direct}/mcp`, initializeMessage(1), { 'x-forwarded-proto': 'https' });
      assert.equal(mcp.status, 400, mcp.text);
      assert.match(String((mcp.json?.error as { message?: string } | undefined)?.message), /only reachable over https/, 'in JSON-RPC form on /mcp');
      assert.equal((await request(`${direct}/healthz`)).status, 200, 'health checks still answer');
    } finally {
      await server.stop();
    }
  });

  it('with the default trust (a proxy on this host), a client cannot get around the registration limit by forging X-Forwarded-For entries before the one its proxy adds', async () => {
    const port = await freePort();
    const server = await startServerProcess({ port, env: { PUBLIC_URL: `https://localhost:${port}`, REGISTRATION_RATE_LIMIT: '2' } });
    try {
      const viaProxy = (clientAddress: string, forged: string) => ({ 'x-forwarded-proto': 'https', 'x-forwarded-for': `${forged}, ${clientAddress}` });
      const url = `http://localhost:${port}/register`;
      for (let attempt = 1; attempt <= 2; attempt += 1) {
        assert.equal((await postJson(url, body, viaProxy('203.0.113.7', `198.51.100.${attempt}`))).status, 201, `registration ${attempt}`);
      }
      const third = await postJson(url, body, viaProxy('203.0.113.7', '198.51.100.3'));
      assertOAuthError(third, 429, 'temporarily_unavailable', 'the third, with yet another forged entry');
      // The limit is per client address as the proxy saw it: another client still registers.
      assert.equal((await postJson(url, body, viaProxy('203.0.113.8', '198.51.100.1'))).status, 201, 'another client address');
      assert.match(server.output(), /registration\.rate_limited ip=203\.0\.113\.7/);
    } finally {
      await server.stop();
    }
  });
});
