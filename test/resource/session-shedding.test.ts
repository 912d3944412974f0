import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import express from 'express';
import { createMcpServer } from '../../mcp.js';
import { errorHandler } from '../../src/http/error-response.js';
import { silentLogger } from '../../src/log.js';
import { bearerGuard, type AccessTokenLookup } from '../../src/resource/bearer.js';
import { addConformanceFixtures } from '../../src/resource/conformance-fixtures.js';
import { mcpEndpoint } from '../../src/resource/mcp-endpoint.js';
import { SessionRegistry, type StreamableSession } from '../../src/resource/sessions.js';
import { StreamableSessions } from '../../src/resource/streamable-sessions.js';
import { collectGarbage } from '../support/collect-garbage.js';
import { eventually } from '../support/time-limit.js';

/**
 * An idle Streamable HTTP session holds no server: once its transport has been quiet for the
 * grace, its McpServer and transport are dropped, and its next request rebuilds them. From the
 * client's side nothing changes: the same session id, the same tools, the server still knows what
 * the client negotiated (its capabilities, its name, its logging level), broken streams still
 * resume, and everything a session's owner and lifetime rules say still holds.
 */

const MIB = 1024 * 1024;
const RESOURCE = 'http://localhost/mcp';
const ALICE = 'token-of-alice';
const BOB = 'token-of-bob';
const CLIENT_INFO = { name: 'shedding-test-client', version: '9.8.7' };
const CAPABILITIES = { elicitation: {}, roots: { listChanged: true } };

const store: AccessTokenLookup = {
  findAccessToken(token: string) {
    const subject = token === ALICE ? 'alice' : token === BOB ? 'bob' : undefined;
    if (!subject) return undefined;
    return { accountId: subject, clientId: 'app', scope: 'uuid:generate profile:read', exp: Math.floor(Date.now() / 1000) + 3600, aud: RESOURCE };
  },
};
const tokenCheck = bearerGuard(store, { audiences: [RESOURCE], resourceMetadataUrl: 'http://localhost/.well-known/oauth-protected-resource/mcp' });

/** The real tools, the conformance fixtures (logging, elicitation, a stream closed early), and two tools of this test's own. */
function testServerFactory() {
  const counts = { built: 0 };
  const gates: (() => void)[] = [];
  const createServer = () => {
    counts.built += 1;
    const server = createMcpServer({ userProfile: async () => ({ error: 'no users here' }) });
    addConformanceFixtures(server);
    server.registerTool('client_info', { description: 'What the server knows of its client.' }, () => ({
      content: [{ type: 'text', text: JSON.stringify({ clientInfo: server.server.getClientVersion(), capabilities: server.server.getClientCapabilities() }) }],
    }));
    server.registerTool('wait_for_gate', { description: 'Answers once the test opens the gate.' }, () => new Promise((resolve) => {
      gates.push(() => resolve({ content: [{ type: 'text', text: 'gate opened' }] }));
    }));
    return server;
  };
  return { counts, gates, createServer };
}

interface Endpoint {
  url: string;
  registry: SessionRegistry;
  counts: { built: number };
  gates: (() => void)[];
  close(): Promise<void>;
}

async function serve(limits: { shedAfterMs: number; idleTtlMs?: number }): Promise<Endpoint> {
  const registry = new SessionRegistry({ idleTtlMs: limits.idleTtlMs ?? 60_000, perCaller: 1000, total: 10_000, shedAfterMs: limits.shedAfterMs }, silentLogger);
  const { counts, gates, createServer } = testServerFactory();
  const app = express();
  app.use(mcpEndpoint({ guards: [tokenCheck], createServer, sessions: registry, log: silentLogger, maxBodyBytes: MIB }));
  app.use(errorHandler(silentLogger));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    registry,
    counts,
    gates,
    close: async () => {
      await registry.closeAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Reply {
  status: number;
  sessionId: string | null;
  /** Every JSON-RPC message of the answer (the JSON body, or each SSE event's data). */
  messages: Record<string, unknown>[];
  /** SSE event ids, in order. */
  eventIds: string[];
  text: string;
}

function eventsOf(text: string): { messages: Record<string, unknown>[]; eventIds: string[] } {
  const messages: Record<string, unknown>[] = [];
  const eventIds: string[] = [];
  for (const block of text.split(/\n\n/)) {
    const id = /^id: (.*)$/m.exec(block)?.[1];
    if (id) eventIds.push(id);
    const data = block.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
    if (data.trim() !== '') messages.push(JSON.parse(data) as Record<string, unknown>);
  }
  return { messages, eventIds };
}

const PROTOCOL = '2025-11-25';

async function send(url: string, token: string, message: unknown, options: { sessionId?: string; method?: string; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Reply> {
  const method = options.method ?? 'POST';
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json, text/event-stream', 'mcp-protocol-version': PROTOCOL, ...options.headers };
  if (method === 'POST') headers['content-type'] = 'application/json';
  if (options.sessionId) headers['mcp-session-id'] = options.sessionId;
  const response = await fetch(url, { method, headers, body: method === 'POST' ? JSON.stringify(message) : undefined, signal: options.signal ?? AbortSignal.timeout(10_000) });
  const text = await response.text();
  const parsed = (response.headers.get('content-type') ?? '').startsWith('text/event-stream') ? eventsOf(text) : { messages: text ? [JSON.parse(text) as Record<string, unknown>] : [], eventIds: [] };
  return { status: response.status, sessionId: response.headers.get('mcp-session-id'), text, ...parsed };
}

const headersFor = (sessionId: string) => ({ authorization: `Bearer ${ALICE}`, accept: 'application/json, text/event-stream', 'mcp-protocol-version': PROTOCOL, 'mcp-session-id': sessionId });

/** A request whose SSE answer is read as it arrives (it may stay open). */
async function openStream(url: string, init: RequestInit) {
  const controller = new AbortController();
  const response = await fetch(url, { ...init, signal: controller.signal });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  return {
    status: response.status,
    /** Everything received until `needle` has arrived (at most 10 s). */
    async readUntil(needle: string): Promise<string> {
      const timer = setTimeout(() => controller.abort(), 10_000);
      try {
        while (!text.includes(needle)) {
          const { value, done } = await reader.read();
          assert.equal(done, false, `"${needle}" before the end: ${text}`);
          text += value;
        }
        return text;
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => controller.abort(),
  };
}

async function open(endpoint: Endpoint, token = ALICE, protocolVersion = PROTOCOL): Promise<string> {
  const init = await send(endpoint.url, token, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion, capabilities: CAPABILITIES, clientInfo: CLIENT_INFO } });
  assert.equal(init.status, 200, init.text);
  const sessionId = init.sessionId!;
  assert.equal((await send(endpoint.url, token, { jsonrpc: '2.0', method: 'notifications/initialized' }, { sessionId })).status, 202);
  return sessionId;
}

const callTool = (endpoint: Endpoint, sessionId: string, name: string, args: Record<string, unknown> = {}, id: number = 2, token = ALICE) =>
  send(endpoint.url, token, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }, { sessionId });

function resultOf(reply: Reply): { content: { text: string }[] } {
  const answer = reply.messages.find((message) => 'result' in message || 'error' in message);
  assert.ok(answer && 'result' in answer, `a result: ${reply.status} ${reply.text}`);
  return answer.result as { content: { text: string }[] };
}

/** Forces the shedding pass as if the grace had long passed. */
const shedNow = (endpoint: Endpoint) => endpoint.registry.shed(Date.now() + 60_000);

describe('an idle Streamable HTTP session is shed and rebuilt', () => {
  let endpoint: Endpoint;
  beforeEach(async () => {
    endpoint = await serve({ shedAfterMs: 100 });
  });
  afterEach(async () => {
    await endpoint.close();
  });

  it('left quiet past the grace, its server is dropped; its next call rebuilds it: the same session id, tools work, and the server knows the client as it introduced itself', async () => {
    const sessionId = await open(endpoint);
    const known = JSON.parse(resultOf(await callTool(endpoint, sessionId, 'client_info')).content[0]!.text) as { clientInfo: unknown; capabilities: { roots?: unknown; elicitation?: unknown } };
    assert.deepEqual(known.clientInfo, CLIENT_INFO);
    assert.deepEqual(known.capabilities.roots, CAPABILITIES.roots);
    assert.ok(known.capabilities.elicitation, 'elicitation (the SDK reads {} as form elicitation)');
    assert.equal(endpoint.registry.liveStreamable, 1);
    await eventually(() => assert.equal(endpoint.registry.liveStreamable, 0, 'shed by the registry\'s own timer'), 5_000, 20);
    assert.equal(endpoint.registry.size, 1, 'the session itself is still open');
    assert.equal(endpoint.counts.built, 1);

    const reply = await callTool(endpoint, sessionId, 'client_info', {}, 3);
    assert.equal(reply.status, 200);
    assert.equal(reply.sessionId, sessionId);
    assert.deepEqual(JSON.parse(resultOf(reply).content[0]!.text), known, 'what the first server knew of its client');
    assert.equal(endpoint.counts.built, 2, 'one server rebuilt');
    assert.equal(endpoint.registry.liveStreamable, 1);
    assert.match(resultOf(await callTool(endpoint, sessionId, 'generate_uuid', { version: 'v7' }, 4)).content[0]!.text, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    assert.equal(endpoint.counts.built, 2, 'calls back to back use the rebuilt server');
  });

  it('calls less than the grace apart keep the same server', async () => {
    const busy = await serve({ shedAfterMs: 2_000 });
    try {
      const sessionId = await open(busy);
      for (let id = 2; id < 7; id += 1) {
        resultOf(await callTool(busy, sessionId, 'generate_uuid', {}, id));
        assert.equal(busy.registry.shed(Date.now()), 0);
      }
      assert.equal(busy.counts.built, 1);
    } finally {
      await busy.close();
    }
  });

  it('an elicitation-capable client can still be asked after a rebuild (the server checks the capability it negotiated)', async () => {
    const sessionId = await open(endpoint);
    shedNow(endpoint);
    assert.equal(endpoint.registry.liveStreamable, 0);
    const call = await openStream(endpoint.url, {
      method: 'POST',
      headers: { ...headersFor(sessionId), 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'test_elicitation', arguments: { message: 'Name?' } } }),
    });
    try {
      const request = eventsOf(await call.readUntil('elicitation/create')).messages.find((message) => message.method === 'elicitation/create')!;
      // Waiting on the client's answer: nothing sheds the server meanwhile.
      assert.equal(shedNow(endpoint), 0);
      const answered = await send(endpoint.url, ALICE, { jsonrpc: '2.0', id: request.id, result: { action: 'accept', content: { response: 'Alice' } } }, { sessionId });
      assert.equal(answered.status, 202);
      assert.match(await call.readUntil('User response'), /action=accept, content=\{\\"response\\":\\"Alice\\"\}/);
    } finally {
      call.close();
    }
  });

  it('logging/setLevel survives a rebuild: a rebuilt server filters log messages at the level the client set', async () => {
    const sessionId = await open(endpoint);
    const logsOf = (reply: Reply) => reply.messages.filter((message) => message.method === 'notifications/message').length;
    assert.equal(logsOf(await callTool(endpoint, sessionId, 'test_tool_with_logging')), 3, 'info messages, before any level is set');
    const set = await send(endpoint.url, ALICE, { jsonrpc: '2.0', id: 3, method: 'logging/setLevel', params: { level: 'error' } }, { sessionId });
    assert.deepEqual(resultOf(set), {});
    assert.equal(logsOf(await callTool(endpoint, sessionId, 'test_tool_with_logging', {}, 4)), 0, 'none at level error');
    shedNow(endpoint);
    assert.equal(endpoint.registry.liveStreamable, 0);
    const rebuilt = await callTool(endpoint, sessionId, 'test_tool_with_logging', {}, 5);
    assert.equal(endpoint.counts.built, 2);
    resultOf(rebuilt);
    assert.equal(logsOf(rebuilt), 0, 'still none at level error after the rebuild');
  });

  it('a stream the server closed early (SEP-1699) resumes from the kept events after the session was shed', async () => {
    const sessionId = await open(endpoint);
    const closed = await callTool(endpoint, sessionId, 'test_reconnection', {}, 7);
    assert.equal(closed.messages.length, 0, `the stream closed before the answer: ${closed.text}`);
    const lastEventId = closed.eventIds.at(-1)!;
    // Shed once the tool has answered into the event store (its stream already gone).
    await eventually(() => {
      shedNow(endpoint);
      assert.equal(endpoint.registry.liveStreamable, 0);
    }, 5_000, 20);
    const resumed = await openStream(endpoint.url, { method: 'GET', headers: { ...headersFor(sessionId), accept: 'text/event-stream', 'last-event-id': lastEventId } });
    try {
      assert.equal(resumed.status, 200);
      assert.match(await resumed.readUntil('Answered after the stream was closed'), /"id":7/);
    } finally {
      resumed.close();
    }
    assert.equal(endpoint.counts.built, 2, 'the resume rebuilt the server');
  });

  it('two requests arriving together at a shed session share one rebuild', async () => {
    const sessionId = await open(endpoint);
    shedNow(endpoint);
    const replies = await Promise.all([2, 3, 4, 5].map((id) => callTool(endpoint, sessionId, 'generate_uuid', {}, id)));
    for (const reply of replies) resultOf(reply);
    assert.equal(endpoint.counts.built, 2, 'one server rebuilt for all four');
  });

  it('asked twice within one turn, the rebuild is made once and both get the same server', async () => {
    const registry = new SessionRegistry({ idleTtlMs: 60_000, perCaller: 10, total: 10, shedAfterMs: 100 }, silentLogger);
    const { counts, createServer } = testServerFactory();
    const sessions = new StreamableSessions(registry, createServer, silentLogger);
    const session: StreamableSession = {
      id: 'shed-session', kind: 'streamable', owner: { subject: 'alice', clientId: 'app' }, lastSeen: Date.now(), inFlight: 0,
      live: undefined, negotiated: { initialize: { protocolVersion: PROTOCOL, capabilities: CAPABILITIES, clientInfo: CLIENT_INFO } }, events: undefined, rebuilding: undefined,
    };
    registry.add(session);
    const [first, second] = await Promise.all([sessions.liveOf(session), sessions.liveOf(session)]);
    assert.equal(first, second);
    assert.equal(counts.built, 1);
    assert.equal(first.server.server.getClientVersion()?.name, CLIENT_INFO.name);
    await registry.closeAll();
  });

  it('a running tool whose client\'s stream broke keeps its server until it answers', async () => {
    const sessionId = await open(endpoint);
    const controller = new AbortController();
    const pending = send(endpoint.url, ALICE, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'wait_for_gate', arguments: {} } }, { sessionId, signal: controller.signal }).catch(() => 'aborted');
    await eventually(() => assert.equal(endpoint.gates.length, 1), 5_000, 10);
    controller.abort();
    assert.equal(await pending, 'aborted');
    await eventually(() => assert.equal(endpoint.registry.get(sessionId, 'streamable')?.inFlight, 0), 5_000, 10);
    assert.equal(shedNow(endpoint), 0, 'the tool is still running');
    assert.equal(endpoint.registry.liveStreamable, 1);
    endpoint.gates[0]!();
    await eventually(() => assert.equal(shedNow(endpoint), 1), 5_000, 10);
    resultOf(await callTool(endpoint, sessionId, 'generate_uuid'));
    assert.equal(endpoint.counts.built, 2);
  });

  it('an open GET stream keeps its server', async () => {
    const sessionId = await open(endpoint);
    const stream = await openStream(endpoint.url, { method: 'GET', headers: { ...headersFor(sessionId), accept: 'text/event-stream' } });
    assert.equal(stream.status, 200);
    assert.equal(shedNow(endpoint), 0);
    stream.close();
    await eventually(() => assert.equal(shedNow(endpoint), 1), 5_000, 10);
  });

  it('DELETE ends a shed session', async () => {
    const sessionId = await open(endpoint);
    shedNow(endpoint);
    assert.equal((await send(endpoint.url, ALICE, undefined, { sessionId, method: 'DELETE' })).status, 200);
    assert.equal(endpoint.registry.size, 0);
    assert.equal(endpoint.registry.liveStreamable, 0, 'the server rebuilt to answer it is closed with the session');
    assert.equal((await callTool(endpoint, sessionId, 'generate_uuid')).status, 404);
  });

  it('a shed session is still evicted after the idle TTL, and then unknown', async () => {
    const sessionId = await open(endpoint);
    shedNow(endpoint);
    assert.equal(endpoint.registry.sweep(Date.now() + 61_000), 1);
    assert.equal(endpoint.registry.size, 0);
    assert.equal((await callTool(endpoint, sessionId, 'generate_uuid')).status, 404);
  });

  it('another account gets 404 for a shed session, and no server is rebuilt for it', async () => {
    const sessionId = await open(endpoint);
    shedNow(endpoint);
    assert.equal((await callTool(endpoint, sessionId, 'generate_uuid', {}, 2, BOB)).status, 404);
    assert.equal(endpoint.counts.built, 1);
    assert.equal(endpoint.registry.liveStreamable, 0);
    resultOf(await callTool(endpoint, sessionId, 'generate_uuid'));
  });

  it('shutdown closes live servers and forgets shed sessions', async () => {
    const shed = await open(endpoint);
    shedNow(endpoint);
    const live = await open(endpoint);
    assert.equal(endpoint.registry.liveStreamable, 1);
    await endpoint.registry.closeAll();
    assert.equal(endpoint.registry.size, 0);
    assert.equal(endpoint.registry.liveStreamable, 0);
    for (const sessionId of [shed, live]) assert.equal((await callTool(endpoint, sessionId, 'generate_uuid')).status, 404);
  });
});


const heapAfterGc = async () => {
  await collectGarbage();
  return process.memoryUsage().heapUsed;
};

describe('what a shed session holds', () => {
  let endpoint: Endpoint;
  before(async () => {
    endpoint = await serve({ shedAfterMs: 60_000 });
  });
  after(async () => {
    await endpoint.close();
  });

  it('far less heap than a live one: a small record instead of a server and transport', async () => {
    const count = 200;
    // Sessions opened, used, shed and rebuilt first, so code compiled on first use is not counted.
    for (let n = 0; n < 60; n += 1) resultOf(await callTool(endpoint, await open(endpoint, ALICE, '2025-06-18'), 'generate_uuid'));
    shedNow(endpoint);
    const before = await heapAfterGc();
    for (let n = 0; n < count; n += 1) await open(endpoint, ALICE, '2025-06-18');
    const live = await heapAfterGc();
    assert.equal(shedNow(endpoint), count);
    const shed = await heapAfterGc();
    const livePerSession = (live - before) / count;
    const shedPerSession = (shed - before) / count;
    assert.ok(livePerSession > 4 * 1024, `a live session holds several KiB (${(livePerSession / 1024).toFixed(1)} KiB)`);
    assert.ok(shedPerSession < livePerSession / 4, `a shed one a fraction of that: ${(shedPerSession / 1024).toFixed(2)} KiB against ${(livePerSession / 1024).toFixed(1)} KiB`);
  });
});
