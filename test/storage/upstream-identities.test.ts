import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Accounts, UpstreamAccountError } from '../../src/authorization/accounts.js';
import { UpstreamIdentities } from '../../src/authorization/upstream/identities.js';
import { loadTokenKey, TOKEN_KEY_FILE, TokenCipher } from '../../src/authorization/upstream/token-cipher.js';
import { openDatabase } from '../../src/storage/sqlite/database.js';
import { createSqliteStore } from '../../src/storage/sqlite/index.js';
import { migrations } from '../../src/storage/sqlite/migrations.js';
import type { UpstreamLink } from '../../src/storage/store.js';
import { tempDir } from '../support/temp-dir.js';

const signIn = (overrides: Partial<UpstreamLink> = {}): UpstreamLink => ({
  provider: 'github',
  subject: '583231',
  username: 'github:octocat',
  displayName: 'The Octocat',
  encryptedTokens: 'v1.sealed',
  profile: { login: 'octocat' },
  newUserId: 'user-1',
  ...overrides,
});

describe('migration 5 (upstream sign-in)', () => {
  it('keeps every existing user and password hash, and lets upstream users have no password', async () => {
    const dir = tempDir('migration-5');
    const old = openDatabase(dir, migrations.filter((migration) => migration.version < 5));
    old.prepare('INSERT INTO users (id, username, display_name, sign_in_method, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run('u-admin', 'admin', 'Administrator', 'password', 'scrypt$hash', 1, 2);
    old.close();

    const store = createSqliteStore(dir);
    try {
      const admin = await store.users.findById('u-admin');
      assert.deepEqual(admin, { id: 'u-admin', username: 'admin', displayName: 'Administrator', signInMethod: 'password', passwordHash: 'scrypt$hash', createdAt: 1, updatedAt: 2 });
      const { user, created } = await store.upstreamIdentities.signIn(signIn());
      assert.equal(created, true);
      assert.equal(user.passwordHash, null);
      assert.equal(user.signInMethod, 'github');
      assert.equal(await store.users.setPasswordHash(user.id, 'scrypt$other'), false, 'an upstream user cannot be given a password');
      assert.equal((await store.users.findById(user.id))?.passwordHash, null);
    } finally {
      await store.close();
    }
  });
});

describe('upstream identities', () => {
  it('links by provider and subject, not by name: a second sign-in updates the name, tokens and profile of the same user', async () => {
    const store = createSqliteStore(tempDir('identities'));
    try {
      const first = await store.upstreamIdentities.signIn(signIn());
      const again = await store.upstreamIdentities.signIn(signIn({ username: 'github:octocat-renamed', displayName: 'Octo', encryptedTokens: 'v1.new', profile: { login: 'octocat-renamed' }, newUserId: 'user-2' }));
      assert.equal(again.created, false);
      assert.equal(again.user.id, first.user.id);
      assert.equal(again.user.username, 'github:octocat-renamed');
      assert.equal(again.user.displayName, 'Octo');
      const identity = await store.upstreamIdentities.findByUser(first.user.id);
      assert.equal(identity?.encryptedTokens, 'v1.new');
      assert.deepEqual(identity?.profile, { login: 'octocat-renamed' });
      assert.equal(await store.users.count(), 1);
    } finally {
      await store.close();
    }
  });

  it('the same subject at another provider is another user; a name already taken gets the subject appended', async () => {
    const store = createSqliteStore(tempDir('identities-names'));
    try {
      const github = await store.upstreamIdentities.signIn(signIn());
      const other = await store.upstreamIdentities.signIn(signIn({ provider: 'oidc', subject: 'https://idp 583231', newUserId: 'user-2' }));
      assert.notEqual(other.user.id, github.user.id);
      assert.equal(other.user.username, 'github:octocat~https://idp 583231');
      assert.equal(await store.upstreamIdentities.findByUser('nobody'), undefined);
    } finally {
      await store.close();
    }
  });
});

describe('usernames of upstream users', () => {
  it('a sign-in whose name and name~subject are both taken still succeeds, with a name no one else holds', async () => {
    const store = createSqliteStore(tempDir('identities-taken'));
    try {
      await store.upstreamIdentities.signIn(signIn({ subject: '1', username: 'github:octocat', newUserId: 'user-1' }));
      await store.upstreamIdentities.signIn(signIn({ provider: 'oidc', subject: 'idp a', username: 'github:octocat~583231', newUserId: 'user-2' }));
      const third = await store.upstreamIdentities.signIn(signIn({ newUserId: 'user-3' }));
      assert.equal(third.created, true);
      assert.equal(third.user.username, 'github:octocat~583231~user-3');
      const again = await store.upstreamIdentities.signIn(signIn({ newUserId: 'user-4' }));
      assert.equal(again.user.id, 'user-3', 'the same identity signing in again keeps its user and name');
      assert.equal(again.user.username, 'github:octocat~583231~user-3');
    } finally {
      await store.close();
    }
  });

  it('an OIDC e-mail claim cannot take a provider\'s name ("github:…"): the user is then oidc:{sub}', async () => {
    const store = createSqliteStore(tempDir('identities-email-names'));
    try {
      const identities = new UpstreamIdentities(store, new TokenCipher(randomBytes(32)));
      const oidc = (sub: string, email: string) => identities.signInWithOidc({ issuer: 'https://idp', sub, claims: { sub, email, email_verified: true }, tokens: { access_token: 'a' } });
      assert.equal((await oidc('mallory', 'github:octocat@example.com')).user.username, 'oidc:mallory');
      assert.equal((await oidc('trent', 'github:octocat')).user.username, 'oidc:trent');
      assert.equal((await oidc('eve', 'eve @example.com')).user.username, 'oidc:eve');
      assert.equal((await oidc('alice', 'Alice@Example.com')).user.username, 'alice@example.com');
    } finally {
      await store.close();
    }
  });
});

describe('upstream users and passwords', () => {
  it('an upstream user cannot be given a password (npm run user -- passwd says why) and never signs in with one', async () => {
    const store = createSqliteStore(tempDir('upstream-passwords'));
    try {
      const accounts = new Accounts(store, 10);
      await store.upstreamIdentities.signIn(signIn());
      await assert.rejects(accounts.setPassword('github:octocat', 'a-long-enough-password'), UpstreamAccountError);
      assert.equal(await accounts.authenticate('github:octocat', ''), undefined);
      assert.equal(await accounts.authenticate('github:octocat', 'a-long-enough-password'), undefined);
    } finally {
      await store.close();
    }
  });
});

describe('upstream sign-in states', () => {
  const state = { stateHash: 'h1', bindingHash: 'b1', interactionUid: 'i1', provider: 'github' as const, codeVerifier: 'v', nonce: undefined };

  it('are consumed once, never after expiry, and swept when expired', async () => {
    const store = createSqliteStore(tempDir('states'));
    try {
      const now = Date.now();
      await store.upstreamStates.save({ ...state, expiresAt: now + 600_000 });
      await store.upstreamStates.save({ ...state, stateHash: 'h2', expiresAt: now + 600_000 });
      assert.deepEqual(await store.upstreamStates.find('h1'), { ...state, expiresAt: now + 600_000, consumedAt: undefined });
      assert.equal(await store.upstreamStates.consume('h1', now), true);
      assert.equal(await store.upstreamStates.consume('h1', now + 1), false, 'single use');
      assert.equal((await store.upstreamStates.find('h1'))?.consumedAt, now);
      assert.equal(await store.upstreamStates.consume('h2', now + 600_000), false, 'expired');
      assert.equal(await store.upstreamStates.deleteExpired(now + 600_001), 2);
      assert.equal(await store.upstreamStates.find('h2'), undefined);
    } finally {
      await store.close();
    }
  });
});

describe('upstream token encryption', () => {
  const key = Buffer.alloc(32, 1);

  it('round-trips, and refuses a ciphertext moved to another identity or read with another key', () => {
    const cipher = new TokenCipher(key);
    const sealed = cipher.encrypt('{"access_token":"gho_secret"}', 'github:1');
    assert.ok(!sealed.includes('gho_secret'));
    assert.notEqual(cipher.encrypt('{"access_token":"gho_secret"}', 'github:1'), sealed, 'a fresh IV each time');
    assert.equal(cipher.decrypt(sealed, 'github:1'), '{"access_token":"gho_secret"}');
    assert.throws(() => cipher.decrypt(sealed, 'github:2'));
    assert.throws(() => new TokenCipher(Buffer.alloc(32, 2)).decrypt(sealed, 'github:1'));
    assert.throws(() => cipher.decrypt(`${sealed.slice(0, -2)}AA`, 'github:1'), 'tampering is detected');
  });

  it('without UPSTREAM_TOKEN_KEY: a key file of its own in DATA_DIR, mode 0600, created once and reused; the setting wins when given', () => {
    const dir = tempDir('token-key');
    assert.equal(fs.existsSync(path.join(dir, TOKEN_KEY_FILE)), false);
    loadTokenKey(undefined, dir, false);
    assert.equal(fs.existsSync(path.join(dir, TOKEN_KEY_FILE)), false, 'not created while no upstream is configured');
    const first = loadTokenKey(undefined, dir, true);
    assert.equal(first.length, 32);
    assert.equal(fs.statSync(path.join(dir, TOKEN_KEY_FILE)).mode & 0o777, 0o600);
    assert.deepEqual(loadTokenKey(undefined, dir, true), first);
    assert.deepEqual(loadTokenKey(undefined, dir, false), first, 'an existing file is used even with no upstream configured');
    assert.deepEqual(loadTokenKey(key, dir, true), key);
    fs.writeFileSync(path.join(dir, TOKEN_KEY_FILE), 'garbage');
    assert.throws(() => loadTokenKey(undefined, dir, true), /does not hold a 32-byte key/);
  });
});
