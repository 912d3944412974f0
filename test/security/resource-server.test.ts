import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FormBrowser } from '../support/form-browser.js';
import { initializeMessage, mcpRequest, openSession, RawOAuthClient, resourceMetadataUrl, toolsCallMessage, type McpReply, type Tokens } from '../support/raw-oauth.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';

/**
 * The security checklist's resource-server items that no other test file already checks
 * (docs/security.md names, item by item, where each one is checked).
 */

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const base64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A compact JWS over `claims`, signed by whoever holds `signer` (never this server). */
function jwt(header: Record<string, unknown>, claims: Record<string, unknown>, signer: (input: string) => Buffer | string): string {
  const input = `${base64url(header)}.${base64url(claims)}`;
  const signature = signer(input);
  return `${input}.${typeof signature === 'string' ? signature : signature.toString('base64url')}`;
}

/** 401 with a Bearer challenge naming the resource metadata; `error` is invalid_token, or absent when no credentials were sent. */
function assertChallenged(reply: McpReply, server: ServerProcess, error: 'invalid_token' | undefined, label: string): void {
  assert.equal(reply.status, 401, `${label}: ${reply.status} ${reply.text}`);
  const challenge = reply.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer /, `${label}: ${challenge}`);
  assert.ok(challenge.includes(`resource_metadata="${resourceMetadataUrl(server)}"`), `${label}: ${challenge}`);
  if (error) assert.match(challenge, new RegExp(`error="${error}"`), `${label}: ${challenge}`);
  else assert.doesNotMatch(challenge, /error=/, `${label}: no error code without credentials (RFC 6750 §3.1)`);
  assert.equal(reply.message?.result, undefined, `${label}: nothing ran`);
}

describe('security checklist: resource server (/mcp)', () => {
  let server: ServerProcess;
  let tokens: Tokens;
  before(async () => {
    server = await startServerProcess();
    tokens = await (await RawOAuthClient.registerLoopback(server)).authorize(new FormBrowser(server.url), ADMIN);
  });
  after(async () => {
    await server?.stop();
  });

  it('[S1] a valid Mcp-Session-Id without a token gets 401 (no error code), with a wrong token 401 invalid_token, on POST, GET and DELETE; the session is untouched', async () => {
    const sessionId = await openSession(server, tokens.access_token);
    for (const method of ['POST', 'GET', 'DELETE']) {
      const message = method === 'POST' ? toolsCallMessage(2, 'generate_uuid') : undefined;
      assertChallenged(await mcpRequest(server, undefined, message, { sessionId, method }), server, undefined, `${method} with the session id and no token`);
      assertChallenged(await mcpRequest(server, `${tokens.access_token.slice(0, -2)}xx`, message, { sessionId, method }), server, 'invalid_token', `${method} with the session id and a wrong token`);
    }
    const still = await mcpRequest(server, tokens.access_token, toolsCallMessage(3, 'generate_uuid'), { sessionId });
    assert.equal(still.status, 200, `the session still works with its token: ${still.text}`);
    assert.ok(still.message?.result, still.text);
  });

  it('[S2] session ids are v4 UUIDs (122 random bits), a new one for every session', async () => {
    const ids = new Set<string>();
    for (let index = 0; index < 8; index += 1) {
      const reply = await mcpRequest(server, tokens.access_token, initializeMessage(1));
      assert.equal(reply.status, 200, reply.text);
      assert.match(reply.sessionId ?? '', UUID_V4);
      ids.add(reply.sessionId!);
      await mcpRequest(server, tokens.access_token, undefined, { sessionId: reply.sessionId!, method: 'DELETE' });
    }
    assert.equal(ids.size, 8, 'no id repeats');
  });

  it('[T2] tokens this server did not issue get 401 invalid_token: GitHub tokens (gho_, ghp_, github_pat_), a JWT for this resource signed by another key (RS256, HS256), and an unsigned one (alg none)', async () => {
    const claims = { iss: server.url, sub: 'admin', aud: server.mcpUrl, scope: 'uuid:generate profile:read', exp: Math.floor(Date.now() / 1000) + 3600, iat: Math.floor(Date.now() / 1000) };
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreign: Array<[string, string]> = [
      ['GitHub OAuth token', `gho_${'A1b2C3d4E5'.repeat(3)}123456`],
      ['GitHub classic PAT', `ghp_${'Z9y8X7w6V5'.repeat(3)}654321`],
      ['GitHub fine-grained PAT', `github_pat_11ABCDEFG0${'x'.repeat(72)}`],
      ['JWT signed by another RSA key', jwt({ alg: 'RS256', typ: 'at+jwt', kid: 'someone-else' }, claims, (input) => sign('sha256', Buffer.from(input), privateKey))],
      ['JWT signed with a guessed HMAC secret', jwt({ alg: 'HS256', typ: 'JWT' }, claims, (input) => createHmac('sha256', 'secret').update(input).digest())],
      ['unsigned JWT (alg none)', jwt({ alg: 'none', typ: 'JWT' }, claims, () => '')],
    ];
    for (const [label, token] of foreign) {
      const reply = await mcpRequest(server, token, initializeMessage(1));
      assertChallenged(reply, server, 'invalid_token', label);
      assert.equal(reply.json?.error, 'invalid_token', `${label}: ${reply.text}`);
      assert.equal(reply.sessionId, null, `${label}: no session`);
    }
  });
});
