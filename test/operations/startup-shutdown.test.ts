import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../support/free-port.js';
import { FormBrowser } from '../support/form-browser.js';
import { InMemoryOAuthClient, loopbackRedirect, sdkClientMetadata } from '../support/sdk-oauth-client.js';
import { authorizeSdkClient, connectSdkClient, generateUuids } from '../support/sdk-flow.js';
import { ADMIN, ROOT, SERVER_ENTRY, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

/** Runs the server expecting it to refuse to start; returns exit code and what it printed. */
function startExpectingFailure(env: Record<string, string>): { status: number | null; stderr: string; stdout: string } {
  const result = spawnSync(process.execPath, [path.join(ROOT, SERVER_ENTRY)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, DATA_DIR: tempDir('refused'), ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stderr: result.stderr.replace(/^oidc-provider WARNING: Unsupported runtime.*\n/m, ''), stdout: result.stdout };
}

describe('start-up refuses with one line naming the problem', () => {
  it('a bad setting: exit 2 and the variable named', () => {
    const result = startExpectingFailure({ PORT: 'eighty' });
    assert.equal(result.status, 2);
    assert.equal(result.stderr, 'Configuration error: PORT must be a whole number\n');
  });

  it('a data directory that cannot hold the database: exit 1 and DATA_DIR named', () => {
    const file = path.join(tempDir('notadir'), 'a-file');
    fs.writeFileSync(file, 'not a directory');
    const result = startExpectingFailure({ DATA_DIR: file, PORT: '0', PUBLIC_URL: 'http://localhost:1' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, new RegExp(`^Cannot start: DATA_DIR ${file} cannot hold the database: .+\\n$`));
  });

  it('a port already in use: exit 1 and PORT named', async () => {
    const port = await freePort();
    const blocker = net.createServer().listen(port, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    try {
      const result = startExpectingFailure({ PORT: String(port) });
      assert.equal(result.status, 1);
      assert.equal(result.stderr, `Cannot start: PORT ${port} is already in use on 127.0.0.1; stop the other process or set PORT\n`);
    } finally {
      blocker.close();
    }
  });
});

describe('a running server', () => {
  let server: ServerProcess;
  after(async () => {
    await server?.stop();
  });

  it('answers /healthz, logs requests without any token, code or password, and stops on SIGTERM with exit 0 while a stream is open', async () => {
    server = await startServerProcess();
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');

    const redirect = loopbackRedirect(await freePort());
    const oauth = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
    const callback = await authorizeSdkClient(server, oauth, { browser: new FormBrowser(server.url) });
    const client = await connectSdkClient(server, oauth);
    await generateUuids(client);

    // Requests that carry secrets in their URLs, as a misbehaving client or a pasted link would:
    // the access log must show each request with the values replaced by REDACTED.
    const tokens = oauth.savedTokens!;
    const stateSecret = randomBytes(16).toString('base64url');
    const codeInUrl = await fetch(`${server.url}/auth?code=${callback.searchParams.get('code')!}&state=${stateSecret}`, { redirect: 'manual' });
    await codeInUrl.arrayBuffer();
    const tokenInUrl = await fetch(`${server.mcpUrl}?access_token=${tokens.access_token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(tokenInUrl.status, 401, 'a token in the query string is not accepted');
    await tokenInUrl.arrayBuffer();
    const refreshInUrl = await fetch(`${server.url}/token?refresh_token=${tokens.refresh_token!}`);
    await refreshInUrl.arrayBuffer();

    // The SDK client holds its SSE stream (GET /mcp) open: a second one is refused with 409.
    const second = await fetch(server.mcpUrl, {
      headers: { authorization: `Bearer ${oauth.savedTokens!.access_token}`, accept: 'text/event-stream', 'mcp-session-id': (client.transport as { sessionId?: string }).sessionId! },
    });
    assert.equal(second.status, 409, 'the client\'s stream is open while the signal arrives');
    const started = Date.now();
    const code = await server.stop();
    assert.equal(code, 0, server.output());
    assert.ok(Date.now() - started < 5_000, `stopped promptly, open stream included (${Date.now() - started} ms)`);
    await client.close();

    const log = server.output();
    assert.match(log, /"POST \/token HTTP\/1\.1" 200/, 'requests are logged');
    assert.match(log, /"GET \/auth\?code=REDACTED&state=REDACTED HTTP\/1\.1" \d{3}/, 'the request with a code in its URL is logged, redacted');
    assert.match(log, /"POST \/mcp\?access_token=REDACTED HTTP\/1\.1" 401/, 'the request with a token in its URL is logged, redacted');
    assert.match(log, /"GET \/token\?refresh_token=REDACTED HTTP\/1\.1" \d{3}/, 'the request with a refresh token in its URL is logged, redacted');
    for (const secret of [tokens.access_token, tokens.refresh_token!, callback.searchParams.get('code')!, stateSecret, ADMIN.password]) {
      assert.ok(!log.includes(secret), `the log never contains a secret (${secret.slice(0, 6)}…)`);
    }
    assert.match(log, /login\.succeeded user=admin/, 'says who signed in');
    assert.match(log, /server\.stopping signal=SIGTERM[\s\S]*server\.stopped/);
  });
});
