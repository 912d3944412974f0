import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Request, Response } from 'express';
import { MAX_BINDINGS, STATE_TTL_MS, UpstreamStates } from '../../src/authorization/upstream/states.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { tempDir } from '../support/temp-dir.js';

/** What `start` sets on the response: the binding cookie. */
function fakeResponse() {
  const cookies: { name: string; value: string; options: Record<string, unknown> }[] = [];
  const res = { cookie: (name: string, value: string, options: Record<string, unknown>) => cookies.push({ name, value, options }) } as unknown as Response;
  return { res, cookies };
}

const callback = (state: string | undefined, cookie: string | undefined) =>
  ({ query: state === undefined ? {} : { state }, headers: cookie === undefined ? {} : { cookie } }) as unknown as Request;

/** The button's POST from a browser holding `cookie` (or none). */
const click = (cookie?: string) => callback(undefined, cookie);

/** What `release` leaves on the response: the cookie set again with the other values, or cleared. */
function releasingResponse() {
  const set: string[] = [];
  let cleared = false;
  const res = { cookie: (_name: string, value: string) => set.push(value), clearCookie: () => (cleared = true) } as unknown as Response;
  return { res, set, cleared: () => cleared };
}

/** `test` with the states of a store of its own (cookies `secure` or not), closed after. */
async function withStates(folder: string, secure: boolean, test: (states: UpstreamStates, store: ReturnType<typeof createSqliteStore>) => Promise<void>): Promise<void> {
  const store = createSqliteStore(tempDir(folder), { checkpointer: false });
  try {
    await test(new UpstreamStates(store.upstreamStates, secure), store);
  } finally {
    await store.close();
  }
}

describe('upstream states', () => {
  it('[C8] are 256-bit random, stored only as hashes, expire after 10 minutes, and are single-use', async () => {
    await withStates('states-unit', false, async (states, store) => {
      const t0 = 1_900_000_000_000;
      const { res, cookies } = fakeResponse();
      const started = await states.start(click(), res, 'github', 'uid-1', t0);
      assert.match(started.state, /^[A-Za-z0-9_-]{43}$/);
      assert.match(started.codeChallenge, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(await store.upstreamStates.find(started.state), undefined, 'the state itself is not a key in storage');
      const binding = `${cookies[0]!.name}=${cookies[0]!.value}`;
      assert.equal(cookies[0]!.name, 'upstream_binding');
      assert.deepEqual({ ...cookies[0]!.options }, { httpOnly: true, sameSite: 'lax', secure: false, path: '/', maxAge: STATE_TTL_MS });

      assert.deepEqual(await states.consume(callback(started.state, binding), 'github', t0 + STATE_TTL_MS), { ok: false, status: 400, reason: 'expired' });
      const ok = await states.consume(callback(started.state, binding), 'github', t0 + STATE_TTL_MS - 1);
      assert.equal(ok.ok, true);
      assert.equal(ok.ok && ok.state.interactionUid, 'uid-1');
      assert.deepEqual(await states.consume(callback(started.state, binding), 'github', t0 + 1000), { ok: false, status: 400, reason: 'used' });

      const second = await states.start(click(), fakeResponse().res, 'oidc', 'uid-2', t0);
      assert.notEqual(second.state, started.state);
      assert.notEqual(second.nonce, started.nonce);
    });
  });

  it('[C9] refuse a callback without the browser\'s binding cookie, or with another\'s, with 403, leaving the state for the right browser', async () => {
    await withStates('states-binding', true, async (states) => {
      const mine = fakeResponse();
      const started = await states.start(click(), mine.res, 'github', 'uid-1');
      assert.equal(mine.cookies[0]!.name, '__Host-upstream_binding', 'the __Host- prefix over https');
      assert.equal(mine.cookies[0]!.options.secure, true);
      const theirs = fakeResponse();
      await states.start(click(), theirs.res, 'github', 'uid-2');
      assert.deepEqual(await states.consume(callback(started.state, undefined), 'github'), { ok: false, status: 403, reason: 'no_binding' });
      assert.deepEqual(await states.consume(callback(started.state, `__Host-upstream_binding=${theirs.cookies[0]!.value}`), 'github'), { ok: false, status: 403, reason: 'binding_mismatch' });
      assert.deepEqual(await states.consume(callback(started.state, `__Host-upstream_binding=${mine.cookies[0]!.value}`), 'oidc'), { ok: false, status: 400, reason: 'wrong_provider' });
      assert.deepEqual(await states.consume(callback(undefined, undefined), 'github'), { ok: false, status: 400, reason: 'missing' });
      const ok = await states.consume(callback(started.state, `other=1; __Host-upstream_binding=${mine.cookies[0]!.value}`), 'github');
      assert.equal(ok.ok, true);
    });
  });

  it('let one browser have several sign-ins in flight (two tabs): each tab\'s callback is accepted, in any order, and the cookie keeps the others', async () => {
    await withStates('states-tabs', false, async (states) => {
      const first = fakeResponse();
      const tab1 = await states.start(click(), first.res, 'github', 'uid-1');
      const second = fakeResponse();
      const tab2 = await states.start(click(`upstream_binding=${first.cookies[0]!.value}`), second.res, 'github', 'uid-2');
      const jar = `upstream_binding=${second.cookies[0]!.value}`;
      assert.equal(second.cookies[0]!.value.split('.').length, 2, 'the second tab\'s value is added to the first\'s');

      const one = await states.consume(callback(tab1.state, jar), 'github');
      assert.equal(one.ok && one.state.interactionUid, 'uid-1', 'the first tab is not refused for the second tab\'s click');
      const released = releasingResponse();
      states.release(callback(tab1.state, jar), released.res, one.ok ? one.binding : '');
      assert.equal(released.set.length, 1);
      const after = `upstream_binding=${released.set[0]}`;
      const two = await states.consume(callback(tab2.state, after), 'github');
      assert.equal(two.ok && two.state.interactionUid, 'uid-2', 'the second tab still completes with what the first left');
      const last = releasingResponse();
      states.release(callback(tab2.state, after), last.res, two.ok ? two.binding : '');
      assert.equal(last.cleared(), true, 'nothing left in flight: the cookie is cleared');
    });
  });

  it(`keep at most ${MAX_BINDINGS} sign-ins per browser, the oldest giving way, and ignore what is not a binding value`, async () => {
    await withStates('states-many', false, async (states) => {
      let cookie = 'upstream_binding=not-a-binding';
      const started: string[] = [];
      for (let i = 0; i <= MAX_BINDINGS; i += 1) {
        const { res, cookies } = fakeResponse();
        started.push((await states.start(click(cookie), res, 'github', `uid-${i}`)).state);
        cookie = `upstream_binding=${cookies[0]!.value}`;
      }
      assert.equal(cookie.split('=')[1]!.split('.').length, MAX_BINDINGS);
      assert.deepEqual(await states.consume(callback(started[0], cookie), 'github'), { ok: false, status: 403, reason: 'binding_mismatch' }, 'the oldest gave way');
      for (const state of started.slice(1)) assert.equal((await states.consume(callback(state, cookie), 'github')).ok, true);
    });
  });
});
