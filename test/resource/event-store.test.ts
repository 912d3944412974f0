import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { RESUME_RETRY_MS, SESSION_EVENT_LIMITS, SessionEventStore } from '../../src/resource/event-store.js';
import { FormBrowser } from '../support/form-browser.js';
import { initializedNotification, mcpRequest, RawOAuthClient } from '../support/raw-oauth.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { eventually } from '../support/time-limit.js';

const note = (n: number): JSONRPCMessage => ({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: n } });
const PRIMING = {} as JSONRPCMessage;

async function replay(store: SessionEventStore, after: string): Promise<{ stream: string; sent: Array<[string, JSONRPCMessage]> }> {
  const sent: Array<[string, JSONRPCMessage]> = [];
  const stream = await store.replayEventsAfter(after, { send: async (id, message) => void sent.push([id, message]) });
  return { stream, sent };
}

describe('the per-session event store (stream resumption, SEP-1699)', () => {
  it('replays what came after the given event on that stream only; priming events are ids, never replayed', async () => {
    const store = new SessionEventStore();
    const priming = await store.storeEvent('post-1', PRIMING);
    const first = await store.storeEvent('post-1', note(1));
    await store.storeEvent('post-2', note(99));
    const second = await store.storeEvent('post-1', note(2));
    assert.equal(await store.getStreamIdForEventId(priming), 'post-1');
    assert.deepEqual(await replay(store, priming), { stream: 'post-1', sent: [[first, note(1)], [second, note(2)]] });
    assert.deepEqual(await replay(store, first), { stream: 'post-1', sent: [[second, note(2)]] });
    assert.deepEqual((await replay(store, second)).sent, []);
  });

  it('does not know event ids it did not issue (another session\'s, or made up): the transport answers those with 400', async () => {
    const mine = new SessionEventStore();
    const theirs = new SessionEventStore();
    const foreign = await theirs.storeEvent('their-post', note(1));
    const own = await mine.storeEvent('my-post', note(1));
    assert.equal(await mine.getStreamIdForEventId(own), 'my-post');
    assert.equal(await mine.getStreamIdForEventId(foreign), undefined);
    assert.equal(await mine.getStreamIdForEventId('my-post|999'), undefined);
    assert.equal(await mine.getStreamIdForEventId('anything'), undefined);
  });

  it('keeps at most maxEvents: the oldest go first and their ids become unknown', async () => {
    const store = new SessionEventStore({ ...SESSION_EVENT_LIMITS, maxEvents: 3 });
    const ids = [];
    for (let n = 0; n < 5; n += 1) ids.push(await store.storeEvent('s', note(n)));
    assert.equal(store.usage.messages, 3);
    assert.equal(await store.getStreamIdForEventId(ids[1]!), undefined, 'dropped');
    assert.deepEqual((await replay(store, ids[2]!)).sent.map(([, message]) => message), [note(3), note(4)]);
  });

  it('keeps at most maxBytes, and a message larger than that is not kept, nor anything before it (never a gap)', async () => {
    const size = JSON.stringify(note(1)).length;
    const store = new SessionEventStore({ ...SESSION_EVENT_LIMITS, maxBytes: size * 2 });
    const a = await store.storeEvent('s', note(1));
    await store.storeEvent('s', note(2));
    await store.storeEvent('s', note(3));
    assert.deepEqual(store.usage, { messages: 2, priming: 0, bytes: size * 2 });
    assert.equal(await store.getStreamIdForEventId(a), undefined);
    const huge = await store.storeEvent('s', { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x'.repeat(size * 3) } });
    assert.deepEqual(store.usage, { messages: 0, priming: 0, bytes: 0 });
    assert.equal(await store.getStreamIdForEventId(huge), undefined);
  });

  it('forgets events after retentionMs, also in a session that makes no further request', async () => {
    let now = 1_000_000;
    const clocked = new SessionEventStore({ ...SESSION_EVENT_LIMITS, retentionMs: 30_000 }, () => now);
    const old = await clocked.storeEvent('s', note(1));
    now += 20_000;
    const recent = await clocked.storeEvent('s', note(2));
    now += 15_000;
    assert.equal(await clocked.getStreamIdForEventId(old), undefined, 'older than the retention');
    assert.equal(await clocked.getStreamIdForEventId(recent), 's');
    clocked.clear();

    const idle = new SessionEventStore({ ...SESSION_EVENT_LIMITS, retentionMs: 50 });
    await idle.storeEvent('s', note(1));
    await idle.storeEvent('s', PRIMING);
    assert.deepEqual(idle.usage, { messages: 1, priming: 1, bytes: JSON.stringify(note(1)).length });
    await eventually(() => assert.deepEqual(idle.usage, { messages: 0, priming: 0, bytes: 0 }, 'its expiry timer dropped them'), 2_000, 25);
  });

  it('priming events (ids without data) never push a message out; past maxEvents of their own the oldest is dropped, leaving no gap', async () => {
    const store = new SessionEventStore({ ...SESSION_EVENT_LIMITS, maxEvents: 3 });
    const messages = [await store.storeEvent('get', note(1)), await store.storeEvent('get', note(2)), await store.storeEvent('get', note(3))];
    const primings = [];
    for (let n = 1; n <= 4; n += 1) primings.push(await store.storeEvent(`post-${n}`, PRIMING));
    assert.deepEqual(store.usage, { messages: 3, priming: 3, bytes: 3 * JSON.stringify(note(1)).length });
    assert.deepEqual((await replay(store, messages[0]!)).sent.map(([, message]) => message), [note(2), note(3)], 'every message is still there');
    assert.equal(await store.getStreamIdForEventId(primings[0]!), undefined, 'the oldest priming event is gone');
    assert.equal(await store.getStreamIdForEventId(primings[1]!), 'post-2');
    const answer = await store.storeEvent('post-2', note(20));
    assert.deepEqual((await replay(store, primings[1]!)).sent, [[answer, note(20)]], 'a resume from a priming event gets its stream\'s answer');
  });

  it('a resume looked up is replayed whole, even when other requests store enough in between to push its event out', async () => {
    const store = new SessionEventStore({ ...SESSION_EVENT_LIMITS, maxEvents: 2 });
    const first = await store.storeEvent('s', note(1));
    const second = await store.storeEvent('s', note(2));
    assert.equal(await store.getStreamIdForEventId(first), 's');
    // Between the transport's lookup and its replay, other requests' messages arrive.
    const third = await store.storeEvent('s', note(3));
    const fourth = await store.storeEvent('other', note(4));
    assert.deepEqual(await replay(store, first), { stream: 's', sent: [[second, note(2)], [third, note(3)]] });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(store.usage.messages, 2, 'once replayed, the limits apply again');
    assert.equal(await store.getStreamIdForEventId(first), undefined);
    assert.equal(await store.getStreamIdForEventId(fourth), 'other');
  });

  it('a lookup that is not followed by a replay (the transport refused the resume) holds nothing past the next turn of the event loop', async () => {
    const store = new SessionEventStore({ ...SESSION_EVENT_LIMITS, maxEvents: 1 });
    const first = await store.storeEvent('s', note(1));
    assert.equal(await store.getStreamIdForEventId(first), 's');
    await new Promise((resolve) => setImmediate(resolve));
    await store.storeEvent('s', note(2));
    assert.equal(store.usage.messages, 1);
    assert.equal(await store.getStreamIdForEventId(first), undefined);
  });

  it('a message stored while a replay is being sent is sent by that replay too', async () => {
    const store = new SessionEventStore();
    const first = await store.storeEvent('s', note(1));
    const second = await store.storeEvent('s', note(2));
    const sent: string[] = [];
    let late: string | undefined;
    await store.replayEventsAfter(first, {
      send: async (id) => {
        sent.push(id);
        late ??= await store.storeEvent('s', note(3));
      },
    });
    assert.deepEqual(sent, [second, late]);
  });

  it('clear() drops every event (the session closed)', async () => {
    const store = new SessionEventStore();
    const id = await store.storeEvent('s', note(1));
    store.clear();
    assert.deepEqual(store.usage, { messages: 0, priming: 0, bytes: 0 });
    assert.equal(await store.getStreamIdForEventId(id), undefined);
  });
});

/** The events of an SSE body: id, retry and data of each. */
function sseEvents(text: string): Array<{ id?: string; retry?: string; data: string }> {
  return text.split(/\r?\n\r?\n/).filter((block) => block.trim() !== '' && !block.startsWith(':')).map((block) => {
    const field = (name: string) => block.split(/\r?\n/).filter((line) => line.startsWith(`${name}:`)).map((line) => line.slice(name.length + 1).trimStart());
    return { id: field('id')[0], retry: field('retry')[0], data: field('data').join('\n') };
  });
}

describe('/mcp resumes streams from the session\'s own events only', () => {
  let server: ServerProcess;
  let token: string;
  before(async () => {
    server = await startServerProcess();
    const client = await RawOAuthClient.registerLoopback(server);
    token = (await client.authorize(new FormBrowser(server.url), ADMIN)).access_token;
  });
  after(async () => {
    await server?.stop();
  });

  const headers = (extra: Record<string, string>) => ({ authorization: `Bearer ${token}`, accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', ...extra });

  /** initialize at protocol 2025-11-25: the session id and the SSE events of its answer. */
  async function initialize(): Promise<{ sessionId: string; events: ReturnType<typeof sseEvents> }> {
    const response = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: headers({ 'content-type': 'application/json' }),
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'resume-test', version: '1.0.0' } } }),
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(response.status, 200);
    const sessionId = response.headers.get('mcp-session-id')!;
    const ready = await mcpRequest(server, token, initializedNotification, { sessionId, headers: { 'mcp-protocol-version': '2025-11-25' } });
    assert.equal(ready.status, 202, ready.text);
    return { sessionId, events: sseEvents(await response.text()) };
  }

  it('a 2025-11-25 stream starts with a priming event (id, retry, empty data); resuming from it replays the answer; another session\'s event id gets 400', async () => {
    const first = await initialize();
    const [priming, answer] = first.events;
    assert.ok(priming?.id, `a priming event id: ${JSON.stringify(first.events)}`);
    assert.equal(priming.retry, String(RESUME_RETRY_MS));
    assert.equal(priming.data, '');
    assert.equal((JSON.parse(answer!.data) as { id: number }).id, 1, 'then the initialize result');

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 10_000);
    try {
      const resumed = await fetch(server.mcpUrl, { headers: headers({ 'mcp-session-id': first.sessionId, 'last-event-id': priming.id }), signal: controller.signal });
      assert.equal(resumed.status, 200);
      const reader = resumed.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      // Only whole events (ended by a blank line) count: a chunk may end mid-event.
      const whole = () => sseEvents(text.slice(0, text.lastIndexOf('\n\n') + 2));
      while (!whole().some((event) => event.data !== '')) {
        const { value, done } = await reader.read();
        assert.equal(done, false, `the resumed stream ended before replaying anything: ${text}`);
        text += value;
      }
      const replayed = whole()[0]!;
      assert.equal(replayed.id, answer!.id, 'the missed event, under its own id');
      assert.deepEqual(JSON.parse(replayed.data), JSON.parse(answer!.data));
    } finally {
      clearTimeout(timer);
      controller.abort();
    }

    const second = await initialize();
    const foreign = await mcpRequest(server, token, undefined, { method: 'GET', sessionId: second.sessionId, headers: { 'last-event-id': priming.id, 'mcp-protocol-version': '2025-11-25' } });
    assert.equal(foreign.status, 400, foreign.text);
    assert.equal((foreign.json?.error as { code?: number } | undefined)?.code, -32000, foreign.text);
  });
});
