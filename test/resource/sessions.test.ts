import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { JsonRpcHttpError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { NodeStreamableHttpTransport } from '../../src/resource/node-streamable-transport.js';
import { SessionRegistry, type McpSession } from '../../src/resource/sessions.js';

const alice = { subject: 'alice', clientId: 'gemini' };

function session(id: string, lastSeen: number, owner = alice): McpSession<'streamable'> & { closed: boolean } {
  const entry: McpSession<'streamable'> & { closed: boolean } = {
    id,
    kind: 'streamable',
    owner,
    lastSeen,
    inFlight: 0,
    closed: false,
    live: {
      transport: {} as NodeStreamableHttpTransport,
      server: { close: async () => { entry.closed = true; } } as unknown as McpServer,
    },
    negotiated: undefined,
    events: undefined,
    rebuilding: undefined,
  };
  return entry;
}

const limits = { idleTtlMs: 1000, perCaller: 100, total: 1000 };

/** What track() sees of an HTTP response: whether it has closed, and its `close` event. */
function response(closed = false): EventEmitter & { closed: boolean } {
  const emitter = Object.assign(new EventEmitter(), { closed });
  emitter.once('close', () => (emitter.closed = true));
  return emitter;
}

describe('MCP session registry', () => {
  it('evicts sessions idle for the TTL and closes their servers', async () => {
    const registry = new SessionRegistry(limits, silentLogger);
    const now = Date.now();
    const idle = session('idle', now - 1500);
    const fresh = session('fresh', now - 200);
    registry.add(idle);
    registry.add(fresh);
    assert.equal(registry.sweep(now), 1);
    assert.equal(registry.get('idle', 'streamable'), undefined);
    assert.ok(registry.get('fresh', 'streamable'));
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
    const stream = response();
    registry.track(streaming, stream);
    assert.equal(registry.sweep(Date.now() + 10_000), 0);
    stream.emit('close');
    assert.equal(registry.sweep(Date.now() + 10_000), 1);
  });

  it('does not count a request whose response closed before it was handled (the client left during the token check): its close will not come again', () => {
    const registry = new SessionRegistry(limits, silentLogger);
    const used = session('used', Date.now() - 5000);
    registry.add(used);
    registry.track(used, response(true));
    assert.equal(used.inFlight, 0);
    assert.equal(registry.sweep(Date.now() + 10_000), 1, 'the session is idle, and evicted');
  });

  it('logs a session the client ended itself (forget with its reason), and only once: the registry logs its own closes', async () => {
    const events: { event: string; fields?: Record<string, unknown> }[] = [];
    const record = (event: string, fields?: Record<string, unknown>) => events.push({ event, fields });
    const registry = new SessionRegistry(limits, { info: record, warn: record, error: record });
    const deleted = session('deleted', Date.now());
    registry.add(deleted);
    registry.forget('deleted', 'deleted');
    assert.equal(registry.get('deleted', 'streamable'), undefined);
    const evicted = session('evicted', Date.now() - 5000);
    registry.add(evicted);
    registry.sweep(Date.now());
    registry.forget('evicted', 'deleted'); // its transport's onclose, after the registry closed it
    registry.forget('never-added', 'deleted');
    assert.deepEqual(events.map(({ event, fields }) => [event, fields?.session, fields?.reason]), [
      ['mcp.session_closed', 'deleted', 'deleted'],
      ['mcp.session_closed', 'evicted', 'idle'],
    ]);
  });

  it('finds a session only through its own kind of transport', () => {
    const registry = new SessionRegistry(limits, silentLogger);
    registry.add(session('s', Date.now()));
    assert.ok(registry.get('s', 'streamable'));
    assert.equal(registry.get('s', 'sse'), undefined);
    assert.throws(() => registry.sessionOf('s', 'sse', alice), (error: unknown) => error instanceof JsonRpcHttpError && error.status === 404);
  });

  it('admits no new session once shutdown has begun: 503', async () => {
    const registry = new SessionRegistry(limits, silentLogger);
    registry.admit(alice);
    await registry.closeAll();
    assert.throws(() => registry.admit(alice), (error: unknown) => error instanceof JsonRpcHttpError && error.status === 503 && /shutting down/.test(error.message));
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
    assert.equal(registry.get('older', 'streamable'), undefined, 'their oldest idle session was closed');
    assert.ok(registry.get('newer', 'streamable'));
    assert.ok(registry.get('bobs', 'streamable'), "other callers' sessions are untouched");
    registry.add(session('third', Date.now()));
    registry.track(registry.get('newer', 'streamable')!, response());
    registry.track(registry.get('third', 'streamable')!, response());
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
