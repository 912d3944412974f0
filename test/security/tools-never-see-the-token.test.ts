import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import express from 'express';
import { createLogger } from '../../src/log.js';
import { bearerGuard, type AccessTokenLookup } from '../../src/resource/bearer.js';
import { mcpEndpoint } from '../../src/resource/mcp-endpoint.js';
import { mcpRequest, toolsCallMessage, type ServerLike } from '../support/raw-oauth.js';

const TOKEN = 'T3-bearer-token-the-tools-must-never-see-0123456789abcdef';

/**
 * T3 (no token passthrough): this server calls no upstream API, so what can be tested is that a tool,
 * the only code that could ever forward the client's bearer token somewhere, is never handed it. A
 * tool here records everything the SDK gives it (`extra`: authInfo, the request's headers, …) after
 * the real bearer guard and /mcp endpoint.
 */
describe('the bearer token stops at the bearer guard (T3)', () => {
  const seen: string[] = [];
  let server: Server;
  let target: ServerLike;

  before(async () => {
    const store: AccessTokenLookup = {
      findAccessToken: (token: string) => (token === TOKEN ? { accountId: 'account-1', clientId: 'client-1', scope: 'uuid:generate', exp: Math.floor(Date.now() / 1000) + 3600, aud: 'http://localhost:8080/mcp' } : undefined),
    };
    const createServer = () => {
      const mcp = new McpServer({ name: 'T3 probe', version: '1.0.0' });
      mcp.registerTool('what_do_i_see', { description: 'Records what a tool is handed' }, async (extra) => {
        seen.push(JSON.stringify(extra));
        return { content: [{ type: 'text', text: `client ${extra.authInfo?.clientId}, scopes ${extra.authInfo?.scopes.join(' ')}, subject ${String(extra.authInfo?.extra?.subject)}` }] };
      });
      return mcp;
    };
    const app = express();
    const guard = bearerGuard(store, { audiences: ['http://localhost:8080/mcp'], resourceMetadataUrl: 'http://localhost:8080/.well-known/oauth-protected-resource/mcp' });
    app.use(mcpEndpoint({ guards: [guard], createServer, sessions: undefined, log: createLogger({ write: () => undefined, flush: () => undefined }), maxBodyBytes: 1024 * 1024 }));
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    target = { url: `http://127.0.0.1:${address.port}`, mcpUrl: `http://127.0.0.1:${address.port}/mcp` };
  });
  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it('[T3] a tool is handed who is calling (client, scopes, subject) but neither the bearer token nor the Authorization header', async () => {
    const reply = await mcpRequest(target, TOKEN, toolsCallMessage(1, 'what_do_i_see'));
    assert.equal(reply.status, 200, reply.text);
    const result = reply.message?.result as { content: Array<{ text: string }> } | undefined;
    assert.equal(result?.content[0]?.text, 'client client-1, scopes uuid:generate, subject account-1', 'the tool still knows its caller');
    assert.equal(seen.length, 1, 'the tool ran once');
    const extra = seen[0]!;
    assert.ok(extra.includes('"requestInfo"') && extra.includes('"authInfo"'), `the tool was handed authInfo and requestInfo: ${extra.slice(0, 300)}`);
    assert.ok(!extra.includes(TOKEN), `the token is nowhere in what the tool was handed: ${extra}`);
    assert.doesNotMatch(extra, /"authorization"/i, 'no Authorization header among the request headers the tool sees');
  });
});
