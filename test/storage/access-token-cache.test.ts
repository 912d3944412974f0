import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { ACCESS_TOKEN_RECHECK_MS, cachingAccessTokens } from '../../src/storage/access-token-cache.js';
import { providerAdapter } from '../../src/storage/provider-adapter.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import type { AccessTokenFacts, ModelStore } from '../../src/storage/store.js';
import { tempDir } from '../support/temp-dir.js';

const FACTS: AccessTokenFacts = { accountId: 'alice', clientId: 'app', scope: 'uuid:generate', aud: 'http://localhost/mcp', exp: 4_000_000_000 };

/** A model store whose token lookups are counted and answered from a table, at once or (`later`) with a promise. */
function countingStore(tokens: Map<string, AccessTokenFacts>) {
  const asked: string[] = [];
  let pending: Array<() => void> = [];
  const store = {
    later: false,
    findAccessToken(id: string) {
      asked.push(id);
      if (!store.later) return tokens.get(id);
      return new Promise<AccessTokenFacts | undefined>((resolve) => pending.push(() => resolve(tokens.get(id))));
    },
    async destroy(_kind: string, id: string) {
      tokens.delete(id);
    },
    async revokeByAccountId() {
      tokens.clear();
    },
  };
  const answerPending = () => {
    const now = pending;
    pending = [];
    for (const answer of now) answer();
  };
  return { store: store as unknown as ModelStore & typeof store, asked, answerPending };
}

describe('access tokens remembered for the bearer check', () => {
  it(`answers a found token from memory for ${ACCESS_TOKEN_RECHECK_MS} ms, then asks storage again`, () => {
    let clock = 1_000;
    const { store, asked } = countingStore(new Map([['t1', FACTS]]));
    const cached = cachingAccessTokens(store, ACCESS_TOKEN_RECHECK_MS, () => clock);
    assert.deepEqual(cached.findAccessToken('t1'), FACTS);
    clock += ACCESS_TOKEN_RECHECK_MS - 1;
    assert.deepEqual(cached.findAccessToken('t1'), FACTS);
    assert.deepEqual(asked, ['t1'], 'storage asked once within the bound');
    clock += 1;
    assert.deepEqual(cached.findAccessToken('t1'), FACTS);
    assert.deepEqual(asked, ['t1', 't1'], 'asked again once the bound has passed');
  });

  it('forgets everything at once when this process writes to the model store (a revocation is never late here)', async () => {
    const tokens = new Map([['t1', FACTS], ['t2', FACTS]]);
    const { store, asked } = countingStore(tokens);
    const cached = cachingAccessTokens(store, 60_000, () => 0);
    assert.ok(cached.findAccessToken('t1'));
    assert.ok(cached.findAccessToken('t2'));
    await cached.destroy('AccessToken', 't1');
    assert.equal(cached.findAccessToken('t1'), undefined, 'the destroyed token is refused on the next lookup');
    assert.ok(cached.findAccessToken('t2'), 'the other is looked up again');
    assert.deepEqual(asked, ['t1', 't2', 't1', 't2']);
    await cached.revokeByAccountId('alice');
    assert.equal(cached.findAccessToken('t2'), undefined);
  });

  it('does not remember a token storage did not find, so made-up tokens fill nothing and a new one is found at once', () => {
    const tokens = new Map<string, AccessTokenFacts>();
    const { store, asked } = countingStore(tokens);
    const cached = cachingAccessTokens(store, 60_000, () => 0);
    assert.equal(cached.findAccessToken('new'), undefined);
    tokens.set('new', FACTS);
    assert.deepEqual(cached.findAccessToken('new'), FACTS);
    assert.deepEqual(asked, ['new', 'new']);
  });

  it('does not remember what a lookup read while a write went on (a busy store answering later)', async () => {
    const tokens = new Map([['t1', FACTS]]);
    const { store, asked, answerPending } = countingStore(tokens);
    const cached = cachingAccessTokens(store, 60_000, () => 0);
    store.later = true;
    const reading = cached.findAccessToken('t1');
    await cached.destroy('AccessToken', 'other');
    answerPending();
    assert.deepEqual(await reading, FACTS);
    store.later = false;
    cached.findAccessToken('t1');
    assert.deepEqual(asked, ['t1', 't1'], 'the answer that straddled the write was not kept');
  });

  describe('over SQLite', () => {
    const dir = tempDir('token-cache');
    const sqlite = createSqliteStore(dir);
    after(async () => {
      await sqlite.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('a token revoked through this process (its grant revoked by oidc-provider\'s adapter) is refused on the very next lookup', async () => {
      const models = cachingAccessTokens(sqlite.models, 60_000);
      const tokens = new (providerAdapter(models))('AccessToken');
      await tokens.upsert('at', { kind: 'AccessToken', accountId: 'alice', clientId: 'app', scope: 'uuid:generate', aud: 'http://localhost/mcp', exp: 4_000_000_000, grantId: 'g' }, 60);
      assert.equal((models.findAccessToken('at') as AccessTokenFacts | undefined)?.accountId, 'alice');
      assert.equal((models.findAccessToken('at') as AccessTokenFacts | undefined)?.accountId, 'alice');
      await tokens.revokeByGrantId('g');
      assert.equal(models.findAccessToken('at'), undefined);
    });
  });
});
