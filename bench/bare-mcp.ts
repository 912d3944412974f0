import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';

/**
 * BENCHMARK ONLY. The bare provider's resource side (bench/bare-provider.ts): just what the OAuth
 * dance's discovery and first call use (bench/oauth-dance.ts). `/mcp` refuses a request without a
 * token with the RFC 9728 challenge, checks a token through oidc-provider's own AccessToken.find
 * and its audience, and answers initialize (opening a session bound to the account),
 * notifications/initialized and tools/call generate_uuid as plain JSON; the protected-resource
 * metadata document names the provider as the authorization server. No MCP SDK, no transport.
 */
const PROTOCOL_VERSION = '2025-06-18';
const PRM_PATH = '/.well-known/oauth-protected-resource';

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
}

async function readJson(req: IncomingMessage): Promise<{ id?: unknown; method?: unknown; params?: { name?: unknown } } | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) return undefined;
    chunks.push(chunk);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString());
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export interface BareResource {
  publicUrl: string;
  mcpUrl: string;
  scopes: readonly string[];
}

/** Handles /mcp and the protected-resource metadata; false for any other path. */
export function resourceServer(provider: Provider, resource: BareResource) {
  const metadataUrl = `${resource.publicUrl}${PRM_PATH}/mcp`;
  const metadata = JSON.stringify({ resource: resource.mcpUrl, authorization_servers: [resource.publicUrl], scopes_supported: resource.scopes, bearer_methods_supported: ['header'] });
  const challenge = (error?: string) => `Bearer ${error ? `error="${error}", ` : ''}resource_metadata="${metadataUrl}"`;
  /** Session id → the account that opened it. */
  const sessions = new Map<string, string>();

  const mcp = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return json(res, 405, { error: 'method not allowed' }, { allow: 'POST' });
    const [type, token] = (req.headers.authorization ?? '').split(' ');
    if (type?.toLowerCase() !== 'bearer' || !token) {
      return json(res, 401, { error: 'invalid_token', error_description: 'This endpoint needs an access token' }, { 'www-authenticate': challenge() });
    }
    const found = await provider.AccessToken.find(token);
    if (!found?.accountId || found.aud !== resource.mcpUrl) {
      return json(res, 401, { error: 'invalid_token', error_description: 'unknown, expired or foreign token' }, { 'www-authenticate': challenge('invalid_token') });
    }
    const message = await readJson(req);
    if (!message) return json(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
    if (message.method === 'initialize') {
      const sessionId = randomUUID();
      sessions.set(sessionId, found.accountId);
      const result = { protocolVersion: PROTOCOL_VERSION, capabilities: { tools: {} }, serverInfo: { name: 'bare', version: '0' } };
      return json(res, 200, { jsonrpc: '2.0', id: message.id, result }, { 'mcp-session-id': sessionId });
    }
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId !== 'string' || sessions.get(sessionId) !== found.accountId) {
      return json(res, 404, { jsonrpc: '2.0', id: message.id ?? null, error: { code: -32001, message: 'Session not found' } });
    }
    if (message.method === 'notifications/initialized') {
      res.writeHead(202).end();
      return;
    }
    if (message.method === 'tools/call' && message.params?.name === 'generate_uuid') {
      if (!found.scope?.split(' ').includes('uuid:generate')) {
        return json(res, 403, { error: 'insufficient_scope' }, { 'www-authenticate': challenge('insufficient_scope') });
      }
      const uuids = [randomUUID()];
      const result = { content: [{ type: 'text', text: JSON.stringify({ version: 'v4', uuids }) }], structuredContent: { version: 'v4', uuids } };
      return json(res, 200, { jsonrpc: '2.0', id: message.id, result });
    }
    return json(res, 200, { jsonrpc: '2.0', id: message.id ?? null, error: { code: -32601, message: 'Method not found' } });
  };

  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    if (path === '/mcp') {
      await mcp(req, res);
      return true;
    }
    if (path === PRM_PATH || path === `${PRM_PATH}/mcp`) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(metadata), 'cache-control': 'public, max-age=300' }).end(metadata);
      return true;
    }
    return false;
  };
}
