import assert from 'node:assert/strict';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { FormBrowser, Page } from './form-browser.js';
import { browserFor, type SignInAs, signInAndAllow } from './person-at-browser.js';
import type { InMemoryOAuthClient } from './sdk-oauth-client.js';
import { ADMIN } from './server-process.js';

interface Target {
  url: string;
  mcpUrl: string;
  /** The legacy HTTP+SSE URL, for `transport: 'sse'`. */
  sseUrl?: string;
}

/** Which of the SDK's client transports: Streamable HTTP to /mcp, or the deprecated HTTP+SSE one to /sse. */
export type SdkTransport = 'streamable-http' | 'sse';

function sdkTransport(server: Target, oauth: InMemoryOAuthClient, options: { fetch?: FetchLike; transport?: SdkTransport }): StreamableHTTPClientTransport | SSEClientTransport {
  const settings = { authProvider: oauth, fetch: options.fetch };
  if ((options.transport ?? 'streamable-http') === 'streamable-http') return new StreamableHTTPClientTransport(new URL(server.mcpUrl), settings);
  if (!server.sseUrl) throw new Error('this server has no sseUrl');
  return new SSEClientTransport(new URL(server.sseUrl), settings);
}

/** Connects the official SDK client with its stored tokens; `fetch` is the transport's (to record its requests). */
export async function connectSdkClient(server: Target, oauth: InMemoryOAuthClient, options: { fetch?: FetchLike; transport?: SdkTransport } = {}): Promise<Client> {
  const transport = sdkTransport(server, oauth, options);
  const client = new Client({ name: 'sdk-e2e', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

/**
 * The SDK's first-time flow: its connect gets 401 and runs discovery, registration and builds the
 * authorization URL; the person signs in and allows in `browser`; the SDK exchanges the code.
 * Returns where the browser was sent back to; `seen` receives the server's pages shown on the way.
 */
export async function authorizeSdkClient(server: Target, oauth: InMemoryOAuthClient, options: { browser?: FormBrowser; person?: SignInAs; fetch?: FetchLike; transport?: SdkTransport; seen?: Page[] } = {}): Promise<URL> {
  const transport = sdkTransport(server, oauth, options);
  oauth.authorizationUrl = undefined;
  await assert.rejects(new Client({ name: 'sdk-e2e', version: '1.0.0' }).connect(transport), UnauthorizedError);
  assert.ok(oauth.authorizationUrl, 'the SDK produced an authorization URL');
  const person = options.person ?? ADMIN;
  const callback = await signInAndAllow(options.browser ?? browserFor(server.url, person), oauth.authorizationUrl, person, options.seen);
  const code = callback.searchParams.get('code');
  assert.ok(code, `the browser came back with a code: ${callback.href}`);
  await transport.finishAuth(code);
  return callback;
}

export async function generateUuids(client: Client, args: { version?: 'v4' | 'v7'; count?: number } = {}): Promise<string[]> {
  const result = (await client.callTool({ name: 'generate_uuid', arguments: args })) as CallToolResult;
  assert.notEqual(result.isError, true, JSON.stringify(result.content));
  return (result.structuredContent as { uuids: string[] }).uuids;
}
