import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { StartupError } from '../../src/errors.js';
import { providerAdapter } from '../../src/storage/provider-adapter.js';
import { openDatabase } from '../../src/storage/sqlite/database.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { migrations } from '../../src/storage/sqlite/migrations.js';
import { tempDir } from '../support/temp-dir.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the oidc-provider adapter over the SQLite store', () => {
  const dir = tempDir('store');
  const store = createSqliteStore(dir);
  const Adapter = providerAdapter(store.models, { consumedGraceMs: { RefreshToken: 300 } });
  after(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores, finds and destroys models, by id and by uid', async () => {
    const sessions = new Adapter('Session');
    await sessions.upsert('s1', { uid: 'u1', accountId: 'a' }, 60);
    assert.deepEqual(await sessions.find('s1'), { uid: 'u1', accountId: 'a' });
    assert.deepEqual(await sessions.findByUid('u1'), { uid: 'u1', accountId: 'a' });
    await sessions.destroy('s1');
    assert.equal(await sessions.find('s1'), undefined);
  });

  it('keeps models of different kinds apart', async () => {
    await new Adapter('AccessToken').upsert('same-id', { kind: 'AccessToken' }, 60);
    assert.equal(await new Adapter('RefreshToken').find('same-id'), undefined);
  });

  it('forgets a model once it expires', async () => {
    const codes = new Adapter('AuthorizationCode');
    await codes.upsert('short', { grantId: 'g' }, 1);
    assert.ok(await codes.find('short'));
    await sleep(1100);
    assert.equal(await codes.find('short'), undefined);
    assert.ok((await store.models.deleteExpired(Date.now())) >= 1);
  });

  it('marks consumed codes at once, and consumed refresh tokens only after the grace window', async () => {
    const codes = new Adapter('AuthorizationCode');
    await codes.upsert('c1', { grantId: 'g1' }, 60);
    await codes.consume('c1');
    assert.equal(typeof (await codes.find('c1'))?.consumed, 'number');

    const refreshTokens = new Adapter('RefreshToken');
    await refreshTokens.upsert('r1', { grantId: 'g1' }, 60);
    await refreshTokens.consume('r1');
    assert.equal((await refreshTokens.find('r1'))?.consumed, undefined, 'within the grace window it still reads as unused');
    await sleep(150);
    await refreshTokens.consume('r1');
    await sleep(200);
    assert.equal(typeof (await refreshTokens.find('r1'))?.consumed, 'number', 'the window counts from the first use, not the last');
  });

  it('revokes everything issued under a grant, the grant included, and nothing else', async () => {
    await new Adapter('Grant').upsert('g2', { accountId: 'a' }, 60);
    await new Adapter('AccessToken').upsert('at2', { grantId: 'g2' }, 60);
    await new Adapter('RefreshToken').upsert('rt2', { grantId: 'g2' }, 60);
    await new Adapter('AccessToken').upsert('at3', { grantId: 'g3' }, 60);
    await new Adapter('AccessToken').revokeByGrantId('g2');
    assert.equal(await new Adapter('Grant').find('g2'), undefined);
    assert.equal(await new Adapter('AccessToken').find('at2'), undefined);
    assert.equal(await new Adapter('RefreshToken').find('rt2'), undefined);
    assert.ok(await new Adapter('AccessToken').find('at3'));
  });

  it('answers the bearer check\'s lookup at once (no promise) with the token\'s facts, and nothing once it is revoked, destroyed or expired', async () => {
    const tokens = new Adapter('AccessToken');
    const exp = Math.floor(Date.now() / 1000) + 60;
    await tokens.upsert('at1', { kind: 'AccessToken', jti: 'at1', accountId: 'alice', clientId: 'app', scope: 'uuid:generate profile:read', aud: 'http://localhost/mcp', exp, grantId: 'g-at' }, 60);
    const found = store.models.findAccessToken('at1');
    assert.ok(!(found instanceof Promise), 'SQLite answers synchronously');
    assert.deepEqual(found, { accountId: 'alice', clientId: 'app', scope: 'uuid:generate profile:read', aud: 'http://localhost/mcp', exp });
    assert.equal(store.models.findAccessToken('unknown'), undefined);
    await new Adapter('RefreshToken').upsert('rt-same-id', { kind: 'RefreshToken', accountId: 'alice' }, 60);
    assert.equal(store.models.findAccessToken('rt-same-id'), undefined, 'only access tokens');
    await tokens.revokeByGrantId('g-at');
    assert.equal(store.models.findAccessToken('at1'), undefined, 'revoked with its grant');
    await tokens.upsert('at2', { kind: 'AccessToken', accountId: 'alice', aud: 'http://localhost/mcp', exp }, 60);
    await tokens.destroy('at2');
    assert.equal(store.models.findAccessToken('at2'), undefined, 'destroyed');
    await tokens.upsert('at3', { kind: 'AccessToken', accountId: 'alice', aud: ['http://localhost/mcp'], exp }, 1);
    assert.deepEqual((store.models.findAccessToken('at3') as { aud: unknown }).aud, '["http://localhost/mcp"]', 'an audience that is not a string never reads as one');
    await sleep(1100);
    assert.equal(store.models.findAccessToken('at3'), undefined, 'expired');
  });

  it('keeps registered clients (no expiry) until destroyed', async () => {
    const clients = new Adapter('Client');
    await clients.upsert('client-1', { client_id: 'client-1' }, undefined as unknown as number);
    assert.deepEqual(await clients.find('client-1'), { client_id: 'client-1' });
  });
});

describe('schema migrations', () => {
  it('apply once, and a second open changes nothing', () => {
    const dir = tempDir('migrate');
    openDatabase(dir).close();
    const db = openDatabase(dir);
    const rows = db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[];
    assert.deepEqual(rows.map((row) => row.version), migrations.map((migration) => migration.version));
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuse a database from a newer server with a clear error', () => {
    const dir = tempDir('newer');
    openDatabase(dir, [...migrations, { version: 99, name: 'future', sql: 'SELECT 1' }]).close();
    assert.throws(() => openDatabase(dir), (error: unknown) => error instanceof StartupError && /newer than this server knows/.test(error.message));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
