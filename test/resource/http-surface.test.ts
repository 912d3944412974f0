import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../support/free-port.js';
import { FormBrowser } from '../support/form-browser.js';
import {
  initializeMessage, mcpRequest, openSession, RawOAuthClient, registerRaw, request, toolsCallMessage, type McpReply, type Tokens,
} from '../support/raw-oauth.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { isUuidV4 } from '../support/uuids.js';

/** A request with a Host header of our choosing (fetch would not let us set it). */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'GET', headers, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const resultOf = (reply: McpReply) => reply.message?.result as { isError?: boolean; content: { text: string }[]; structuredContent?: { uuids: string[] } };

describe('discovery documents, generated from configuration', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  it('protected-resource metadata at the path-inserted location and the root, naming the exact MCP URL and the issuer', async () => {
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const answer = await request(`${server.url}${path}`, { headers: { origin: 'http://localhost:6274' } });
      assert.equal(answer.status, 200, path);
      assert.equal(answer.headers.get('access-control-allow-origin'), '*', `${path} is readable from browsers`);
      assert.deepEqual(answer.json, {
        resource: server.mcpUrl,
        authorization_servers: [server.url],
        scopes_supported: ['uuid:generate', 'profile:read'],
        bearer_methods_supported: ['header'],
        resource_name: 'UUID MCP Server',
      });
    }
  });

  it('authorization-server metadata at both well-known names, with the issuer byte-identical to the PRM and what MCP clients require', async () => {
    const prm = (await request(`${server.url}/.well-known/oauth-protected-resource/mcp`)).json!;
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const answer = await request(`${server.url}${path}`, { headers: { origin: 'http://localhost:6274' } });
      assert.equal(answer.status, 200, path);
      assert.ok(answer.headers.get('access-control-allow-origin'), `${path} is readable from browsers`);
      const metadata = answer.json!;
      assert.equal(metadata.issuer, (prm.authorization_servers as string[])[0]);
      assert.equal(metadata.issuer, server.url, 'no trailing slash');
      assert.equal(metadata.authorization_endpoint, `${server.url}/auth`);
      assert.equal(metadata.token_endpoint, `${server.url}/token`);
      assert.equal(metadata.registration_endpoint, `${server.url}/register`);
      assert.equal(metadata.revocation_endpoint, `${server.url}/revoke`);
      assert.equal(metadata.introspection_endpoint, `${server.url}/introspect`);
      assert.equal(metadata.jwks_uri, `${server.url}/jwks`);
      assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
      assert.deepEqual(metadata.response_types_supported, ['code']);
      assert.equal(metadata.authorization_response_iss_parameter_supported, true);
      assert.deepEqual(metadata.scopes_supported, ['openid', 'offline_access', 'uuid:generate', 'profile:read']);
      assert.deepEqual([...(metadata.token_endpoint_auth_methods_supported as string[])].sort(), ['client_secret_basic', 'client_secret_post', 'none']);
      assert.ok((metadata.grant_types_supported as string[]).includes('refresh_token'));
      assert.equal(metadata.pushed_authorization_request_endpoint, undefined, 'only endpoints that are served are advertised');
    }
    const jwks = await request(`${server.url}/jwks`);
    assert.equal(jwks.status, 200);
    assert.equal(((jwks.json!.keys as { d?: string }[])[0]!).d, undefined, 'only public keys are published');
  });

  it('follows PUBLIC_URL: every document names the configured URL', async () => {
    const port = await freePort();
    const other = await startServerProcess({ port, env: { PUBLIC_URL: `http://127.0.0.1:${port}` } });
    try {
      const prm = (await request(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`)).json!;
      assert.equal(prm.resource, `http://127.0.0.1:${port}/mcp`);
      assert.deepEqual(prm.authorization_servers, [`http://127.0.0.1:${port}`]);
      const metadata = (await request(`http://127.0.0.1:${port}/.well-known/oauth-authorization-server`)).json!;
      assert.equal(metadata.issuer, `http://127.0.0.1:${port}`);
      assert.match(other.output(), new RegExp(`running at http://127\\.0\\.0\\.1:${port}/mcp`));
    } finally {
      await other.stop();
    }
  });

  it('CORS preflights on registration, token and revocation, and a readable registration answer, for browser-based clients', async () => {
    const origin = 'http://localhost:6274';
    for (const path of ['/register', '/token', '/revoke']) {
      const preflight = await request(`${server.url}${path}`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      assert.equal(preflight.status, 204, path);
      assert.ok(preflight.headers.get('access-control-allow-origin'), `${path} allows the origin`);
      assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/, path);
    }
    const registered = await registerRaw(server, { redirect_uris: [`${origin}/oauth/callback`], token_endpoint_auth_method: 'none' }, { origin });
    assert.equal(registered.status, 201);
    assert.equal(registered.headers.get('access-control-allow-origin'), '*');
  });

  it('introspection (RFC 7662) tells a client about its own tokens only', async () => {
    const owner = await RawOAuthClient.registerLoopback(server);
    const other = await RawOAuthClient.registerLoopback(server);
    const tokens = await owner.authorize(new FormBrowser(server.url), ADMIN);
    const introspect = (client: RawOAuthClient) => request(`${server.url}/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.access_token, client_id: client.clientId }),
    });
    const own = await introspect(owner);
    assert.equal(own.status, 200);
    assert.equal(own.json!.active, true);
    assert.equal(own.json!.aud, server.mcpUrl);
    assert.equal(own.json!.scope, 'uuid:generate profile:read');
    assert.equal((await introspect(other)).json!.active, false);
  });

  it('answers unknown paths, also under authorization-server routes, with 404 in OAuth format', async () => {
    for (const path of ['/nope', '/token/extra', '/register/not-a-client/x']) {
      const answer = await request(`${server.url}${path}`);
      assert.equal(answer.status, 404, path);
      assert.equal(answer.json?.error, 'invalid_request', `${path}: ${answer.text}`);
    }
  });
});

describe('registration and loopback redirects', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess({ env: { REGISTRATION_RATE_LIMIT: '100000' } });
  });
  after(async () => {
    await server?.stop();
  });

  it('accepts a body with no scope and extra fields (Claude Code, mcp-remote), answering 201 with the full metadata', async () => {
    const answer = await registerRaw(server, {
      client_name: 'MCP CLI Proxy',
      redirect_uris: ['http://localhost:3334/oauth/callback'],
      token_endpoint_auth_method: 'none',
      client_uri: 'https://github.com/geelen/mcp-remote',
      software_id: '2e6dc280-f3c3-4e01-99a7-8181dbd1d23d',
      software_version: '0.15.1',
      unknown_extension: { nested: true },
    });
    assert.equal(answer.status, 201, answer.text);
    assert.equal(typeof answer.json!.client_id, 'string');
    assert.deepEqual(answer.json!.redirect_uris, ['http://localhost:3334/oauth/callback']);
    assert.deepEqual(answer.json!.grant_types, ['authorization_code', 'refresh_token']);
    assert.equal(answer.json!.application_type, 'native');
    assert.equal(answer.json!.client_name, 'MCP CLI Proxy');
    assert.equal(answer.headers.get('cache-control'), 'no-store');
  });

  it('matches a loopback redirect on any port, for localhost and 127.0.0.1 alike, but never one spelling for the other', async () => {
    for (const host of ['localhost', '127.0.0.1']) {
      const client = await RawOAuthClient.register(server, [`http://${host}:1111/cb`]);
      const otherPort = `http://${host}:${await freePort()}/cb`;
      const tokens = await client.authorize(new FormBrowser(server.url), ADMIN, { redirectUri: otherPort });
      assert.ok(tokens.access_token, `${host}: another port is accepted`);
      const crossed = client.authorizationRequest({ redirectUri: `http://${host === 'localhost' ? '127.0.0.1' : 'localhost'}:1111/cb` });
      const refused = await request(crossed.url);
      assert.equal(refused.status, 400, `${host}: the other spelling is a different redirect URI`);
      assert.equal(refused.headers.get('location'), null);
    }
  });

  it('limits registrations per address: past REGISTRATION_RATE_LIMIT, 429 with an OAuth error and Retry-After', async () => {
    const limited = await startServerProcess({ env: { REGISTRATION_RATE_LIMIT: '2' } });
    try {
      const body = { redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' };
      assert.equal((await registerRaw(limited, body)).status, 201);
      assert.equal((await registerRaw(limited, body)).status, 201);
      const refused = await registerRaw(limited, body);
      assert.equal(refused.status, 429);
      assert.equal(refused.json!.error, 'temporarily_unavailable');
      assert.ok(Number(refused.headers.get('retry-after')) > 0);
    } finally {
      await limited.stop();
    }
  });
});

describe('/mcp: tools, Host and Origin checks', () => {
  let server: ServerProcess;
  let tokens: Tokens;
  before(async () => {
    server = await startServerProcess();
    const client = await RawOAuthClient.registerLoopback(server);
    tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
  });
  after(async () => {
    await server?.stop();
  });

  it('issues opaque access tokens, not JWTs', () => {
    assert.match(tokens.access_token, /^[\w-]{43}$/);
  });

  it('needs no MCP-Protocol-Version header, and tolerates a missing Accept header', async () => {
    const answer = await request(server.mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify(initializeMessage(1)),
    });
    assert.equal(answer.status, 200, answer.text);
    assert.ok(answer.headers.get('mcp-session-id'));
  });

  it('validates tool input: count must be 1 to 100, version v4 or v7', async () => {
    const session = await openSession(server, tokens.access_token);
    const hundred = resultOf(await mcpRequest(server, tokens.access_token, toolsCallMessage(2, 'generate_uuid', { count: 100 }), { sessionId: session }));
    assert.equal(hundred.structuredContent!.uuids.length, 100);
    assert.equal(new Set(hundred.structuredContent!.uuids).size, 100);
    assert.ok(hundred.structuredContent!.uuids.every(isUuidV4));
    for (const args of [{ count: 101 }, { count: 0 }, { count: 1.5 }, { version: 'v1' }]) {
      const refused = await mcpRequest(server, tokens.access_token, toolsCallMessage(3, 'generate_uuid', args), { sessionId: session });
      const result = resultOf(refused);
      assert.equal(result.isError, true, JSON.stringify(args));
      assert.match(result.content[0]!.text, /Input validation error/);
    }
  });

  it('refuses a Host that is not a loopback name (DNS rebinding), on every path', async () => {
    for (const path of ['/mcp', '/auth', '/.well-known/oauth-protected-resource/mcp']) {
      const answer = await rawGet(server.port, path, { host: `evil.example:${server.port}` });
      assert.equal(answer.status, 403, path);
    }
    assert.equal((await rawGet(server.port, '/healthz', { host: `127.0.0.1:${server.port}` })).status, 200);
  });

  it('lets pages on this machine call /mcp from a browser, and refuses other origins with 403', async () => {
    const allowed = await mcpRequest(server, tokens.access_token, initializeMessage(1), { headers: { origin: 'http://localhost:5173' } });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get('access-control-allow-origin'), '*');
    assert.match(allowed.headers.get('access-control-expose-headers') ?? '', /Mcp-Session-Id/);
    const refused = await mcpRequest(server, tokens.access_token, initializeMessage(1), { headers: { origin: 'https://evil.example' } });
    assert.equal(refused.status, 403);
    assert.equal((refused.json!.error as { code: number }).code, -32000);
  });
});

describe('stateless mode (STATELESS=true)', () => {
  let server: ServerProcess;
  let tokens: Tokens;
  before(async () => {
    server = await startServerProcess({ env: { STATELESS: 'true' } });
    const client = await RawOAuthClient.registerLoopback(server);
    tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
  });
  after(async () => {
    await server?.stop();
  });

  it('serves every request with a new server and transport: no session id, tools work without initialize', async () => {
    const init = await mcpRequest(server, tokens.access_token, initializeMessage(1));
    assert.equal(init.status, 200);
    assert.equal(init.sessionId, null);
    for (let id = 2; id < 5; id += 1) {
      const reply = await mcpRequest(server, tokens.access_token, toolsCallMessage(id, 'generate_uuid'));
      assert.equal(reply.status, 200, reply.text);
      assert.ok(isUuidV4(resultOf(reply).structuredContent!.uuids[0]!));
    }
  });

  it('answers GET and DELETE with 405 (no SSE stream, no session to end), after the token check', async () => {
    for (const method of ['GET', 'DELETE']) {
      assert.equal((await mcpRequest(server, undefined, undefined, { method })).status, 401, `${method} without a token`);
      const reply = await mcpRequest(server, tokens.access_token, undefined, { method });
      assert.equal(reply.status, 405, method);
      assert.equal(reply.headers.get('allow'), 'POST, OPTIONS');
    }
  });
});

describe('a public https URL behind a proxy', () => {
  it('marks the authorization server cookies Secure, and refuses requests that did not come through the TLS proxy', async () => {
    const port = await freePort();
    const server = await startServerProcess({ port, env: { PUBLIC_URL: `https://localhost:${port}` } });
    try {
      // This test talks to the plain-http listener directly, as the TLS-terminating proxy would.
      const viaProxy = { 'x-forwarded-proto': 'https' };
      const registered = await request(`http://localhost:${port}/register`, {
        method: 'POST',
        headers: { ...viaProxy, 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:4000/cb'], token_endpoint_auth_method: 'none' }),
      });
      assert.equal(registered.status, 201, registered.text);
      const client = new RawOAuthClient({ url: `http://localhost:${port}`, mcpUrl: server.mcpUrl }, String(registered.json!.client_id), ['http://127.0.0.1:4000/cb'], registered.json!);
      const url = client.authorizationRequest().url;
      const answer = await request(url, { headers: viaProxy });
      assert.equal(answer.status, 303);
      const cookies = answer.headers.getSetCookie();
      assert.ok(cookies.length > 0);
      for (const cookie of cookies) assert.match(cookie, /; secure/i, cookie);

      const bypassed = await request(url);
      assert.equal(bypassed.status, 400, 'without X-Forwarded-Proto: https the request did not come through the TLS proxy');
      assert.equal(bypassed.json?.error, 'invalid_request');
      assert.equal((await request(`http://localhost:${port}/healthz`)).status, 200, 'health checks may come straight to the listener');
    } finally {
      await server.stop();
    }
  });
});
