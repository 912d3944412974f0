import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { JsonRpcHttpError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { SessionRegistry, type McpSession } from '../../src/resource/sessions.js';

const alice = { subject: 'alice', clientId: 'gemini' };

function session(id: string, lastSeen: number, owner = alice): McpSession & { closed: boolean } {
  const entry: McpSession & { closed: boolean } = {
    id,
    owner,
    lastSeen,
    inFlight: 0,
    closed: false,
    transport: {} as StreamableHTTPServerTransport,
    server: { close: async () => { entry.closed = true; } } as unknown as McpServer,
  };
  return entry;
}

const limits = { idleTtlMs: 1000, perCaller: 100, total: 1000 };

describe('MCP session registry', () => {
  it('evicts sessions idle for the TTL and closes their servers', async () => {
    const registry = new SessionRegistry(limits, silentLogger);
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
    const registry = new SessionRegistry(limits, silentLogger);
    const streaming = session('streaming', Date.now() - 5000);
    registry.add(streaming);
    const response = new EventEmitter();
    registry.track(streaming, response);
    assert.equal(registry.sweep(Date.now() + 10_000), 0);
    response.emit('close');
    assert.equal(registry.sweep(Date.now() + 10_000), 1);
  });

  it('belongs to one account through one client', () => {
    const owned = session('s', Date.now());
    assert.equal(SessionRegistry.owns(owned, alice), true);
    assert.equal(SessionRegistry.owns(owned, { subject: 'bob', clientId: 'gemini' }), false, 'another account');
    assert.equal(SessionRegistry.owns(owned, { subject: 'alice', clientId: 'other-app' }), false, 'another client of the same account');
  });

  it('caps sessions per caller: the least recently used idle one makes room, and with none idle the caller is refused', async () => {
    const registry = new SessionRegistry({ ...limits, perCaller: 2 }, silentLogger);
    const older = session('older', Date.now() - 500);
    const newer = session('newer', Date.now() - 100);
    registry.add(older);
    registry.add(newer);
    registry.add(session('bobs', Date.now() - 900, { subject: 'bob', clientId: 'gemini' }));
    registry.admit(alice);
    assert.equal(registry.get('older'), undefined, 'their oldest idle session was closed');
    assert.ok(registry.get('newer'));
    assert.ok(registry.get('bobs'), "other callers' sessions are untouched");
    registry.add(session('third', Date.now()));
    registry.track(registry.get('newer')!, new EventEmitter());
    registry.track(registry.get('third')!, new EventEmitter());
    assert.throws(() => registry.admit(alice), (error: unknown) => error instanceof JsonRpcHttpError && error.status === 429);
  });

  it('caps sessions in all: 503 when full of active sessions, room made by idle ones', () => {
    const registry = new SessionRegistry({ ...limits, total: 2 }, silentLogger);
    registry.add(session('a', Date.now(), { subject: 'a', clientId: 'c' }));
    registry.add(session('b', Date.now() - 5000, { subject: 'b', clientId: 'c' }));
    registry.admit(alice);
    assert.equal(registry.size, 1, 'the idle one was evicted to make room');
    registry.add(session('c', Date.now(), { subject: 'c', clientId: 'c' }));
    assert.throws(() => registry.admit(alice), (error: unknown) => error instanceof JsonRpcHttpError && error.status === 503);
  });
});
