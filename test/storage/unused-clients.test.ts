import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignInBackoff, waitAfter } from '../../src/authorization/sign-in-backoff.js';
import { openDatabase } from '../../src/storage/sqlite/database.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { migrations } from '../../src/storage/sqlite/migrations.js';
import { tempDir } from '../support/temp-dir.js';

const HOUR = 3600_000;

describe('unused registrations in the SQLite store', () => {
  it('deleteUnusedClients removes clients registered before the cut-off with no Grant ever saved, with their registration access tokens; a Grant saved once keeps a client for good', async () => {
    const store = createSqliteStore(tempDir('unused-clients'));
    try {
      await store.models.upsert('Client', 'never-used', { client_id: 'never-used' }, undefined);
      await store.models.upsert('RegistrationAccessToken', 'rat-1', { clientId: 'never-used' }, undefined);
      await store.models.upsert('Client', 'used', { client_id: 'used' }, undefined);
      await store.models.upsert('Grant', 'grant-1', { clientId: 'used', accountId: 'a' }, Date.now() + HOUR);
      // The grant goes (revoked, expired): the client stays used.
      await store.models.revokeByGrantId('grant-1');
      // A client updated (RFC 7592 PUT) keeps its registration time.
      await store.models.upsert('Client', 'never-used', { client_id: 'never-used', client_name: 'renamed' }, undefined);

      assert.deepEqual(await store.models.deleteUnusedClients(Date.now() - HOUR, 10), [], 'nothing is older than the cut-off');
      assert.deepEqual(await store.models.deleteUnusedClients(Date.now() + 1, 10), ['never-used']);
      assert.equal(await store.models.find('Client', 'never-used'), undefined);
      assert.equal(await store.models.find('RegistrationAccessToken', 'rat-1'), undefined, 'its registration access token went with it');
      assert.ok(await store.models.find('Client', 'used'));
    } finally {
      await store.close();
    }
  });

  it('deletes in batches of the limit given, until none are left', async () => {
    const store = createSqliteStore(tempDir('unused-batches'));
    try {
      for (let index = 0; index < 5; index += 1) await store.models.upsert('Client', `c${index}`, { client_id: `c${index}` }, undefined);
      const first = await store.models.deleteUnusedClients(Date.now() + 1, 2);
      const second = await store.models.deleteUnusedClients(Date.now() + 1, 2);
      const third = await store.models.deleteUnusedClients(Date.now() + 1, 2);
      assert.deepEqual([first.length, second.length, third.length], [2, 2, 1]);
      assert.deepEqual(new Set([...first, ...second, ...third]), new Set(['c0', 'c1', 'c2', 'c3', 'c4']));
    } finally {
      await store.close();
    }
  });

  it('migration 4 on a database from before it: a client with anything issued to it, or a consent, counts as used; the others get their registration time from client_id_issued_at and can expire', async () => {
    const dir = tempDir('migration-4');
    const before = migrations.filter((migration) => migration.version < 4);
    const old = openDatabase(dir, before);
    const issuedAt = Math.floor(Date.now() / 1000) - 7 * 86400;
    const insert = old.prepare('INSERT INTO oidc_models (kind, id, payload, client_id) VALUES (?, ?, ?, ?)');
    for (const id of ['with-token', 'with-consent', 'idle']) insert.run('Client', id, JSON.stringify({ client_id: id, client_id_issued_at: issuedAt }), null);
    insert.run('AccessToken', 'at-1', JSON.stringify({ clientId: 'with-token' }), 'with-token');
    insert.run('RegistrationAccessToken', 'rat-idle', JSON.stringify({ clientId: 'idle' }), 'idle');
    old.prepare('INSERT INTO consents (account_id, client_id, scopes, granted_at) VALUES (?, ?, ?, ?)').run('a', 'with-consent', 'uuid:generate', Date.now());
    old.close();

    const store = createSqliteStore(dir);
    try {
      assert.deepEqual(await store.models.deleteUnusedClients(Date.now() - 8 * 86400_000, 10), [], 'registered 7 days ago, not 8');
      assert.deepEqual(await store.models.deleteUnusedClients(Date.now() - 6 * 86400_000, 10), ['idle']);
      assert.ok(await store.models.find('Client', 'with-token'));
      assert.ok(await store.models.find('Client', 'with-consent'));
    } finally {
      await store.close();
    }
  });
});

describe('sign-in failure counts', () => {
  const options = { freeFailures: 3, maxWaitMs: 10_000 };

  it('wait after n failures: none for the free ones, then 1 s doubling, capped', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 60].map((failures) => waitAfter(failures, options)), [0, 0, 0, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it('the key is the username alone (case and spaces ignored): attempts are counted before the password is checked, refused while waiting without lengthening the wait, and forgotten after a day', async () => {
    const store = createSqliteStore(tempDir('sign-in-failures'));
    try {
      const backoff = new SignInBackoff(store.signInFailures, options);
      const t0 = 1_000_000_000_000;
      for (const name of ['Alice', ' alice', 'ALICE']) assert.equal(await backoff.begin(name, t0), undefined, name);
      assert.equal(await backoff.begin('alice', t0 + 10), 1, 'after 3 failures, 1 s after the last');
      assert.equal(await backoff.begin('alice', t0 + 500), 1, 'refused attempts do not count');
      assert.equal(await backoff.begin('alice', t0 + 1000), undefined, 'the wait is over');
      assert.equal(await backoff.begin('alice', t0 + 1001), 2, 'a 4th failure: 2 s');
      assert.equal(await backoff.begin('bob', t0 + 1001), undefined, 'another name is not affected');
      assert.equal(await backoff.begin('alice', t0 + 1000 + 24 * HOUR), undefined, 'a day later the count starts again');
      assert.equal(await backoff.begin('alice', t0 + 1001 + 24 * HOUR), undefined, 'second failure of the new count');
      await backoff.succeeded('ALICE');
      for (let attempt = 0; attempt < 3; attempt += 1) assert.equal(await backoff.begin('alice', t0 + 2000 + 24 * HOUR), undefined, `after a success, free attempt ${attempt}`);
      assert.equal(await backoff.sweep(t0 + 2001 + 48 * HOUR), 2, 'old counts are swept');
    } finally {
      await store.close();
    }
  });
});
