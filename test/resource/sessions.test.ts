import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { silentLogger } from '../../src/log.js';
import { SessionRegistry, type McpSession } from '../../src/resource/sessions.js';

function session(id: string, lastSeen: number): McpSession & { closed: boolean } {
  const entry: McpSession & { closed: boolean } = {
    id,
    subject: 'user',
    clientId: 'client',
    lastSeen,
    inFlight: 0,
    closed: false,
    transport: {} as StreamableHTTPServerTransport,
    server: { close: async () => { entry.closed = true; } } as unknown as McpServer,
  };
  return entry;
}

describe('MCP session registry', () => {
  it('evicts sessions idle for the TTL and closes their servers', async () => {
    const registry = new SessionRegistry(1000, silentLogger);
    const now = Date.now();
    const idle = session('idle', now - 1500);
    const fresh = session('fresh', now - 200);
    registry.add(idle);
    registry.add(fresh);
    assert.equal(registry.sweep(now), 1);
    assert.equal(registry.get('idle'), undefined);
    assert.ok(registry.get('fresh'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(idle.closed, true);
    await registry.closeAll();
    assert.equal(fresh.closed, true);
    assert.equal(registry.size, 0);
  });

  it('never evicts a session with a request or stream still open', () => {
    const registry = new SessionRegistry(1000, silentLogger);
    const streaming = session('streaming', Date.now() - 5000);
    registry.add(streaming);
    const response = new EventEmitter();
    registry.track(streaming, response);
    assert.equal(registry.sweep(Date.now() + 10_000), 0);
    response.emit('close');
    assert.equal(registry.sweep(Date.now() + 10_000), 1);
  });
});
