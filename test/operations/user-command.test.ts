import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FormBrowser } from '../support/form-browser.js';
import { consentPage, signInPage } from '../support/page-steps.js';
import { RawOAuthClient } from '../support/raw-oauth.js';
import { ROOT, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import { assertTokenAccepted, assertTokenRefused } from '../support/token-checks.js';

function user(dataDir: string, args: string[], input?: string) {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'scripts', 'user.js'), ...args], {
    cwd: ROOT, env: { PATH: process.env.PATH, DATA_DIR: dataDir }, input, encoding: 'utf8', timeout: 30_000,
  });
  return { status: result.status, out: result.stdout, err: result.stderr };
}

describe('npm run user -- add | passwd | list', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  it('is wired as an npm script', () => {
    // --ignore-scripts skips the `preuser` build: other tests may be starting dist/ right now.
    const result = spawnSync('npm', ['run', '--silent', '--ignore-scripts', 'user', '--', 'list'], { cwd: ROOT, env: { ...process.env, DATA_DIR: server.dataDir }, encoding: 'utf8', timeout: 120_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^admin\tAdministrator\tpassword\tcreated /m);
  });

  it('adds a user beside the running server, who can then sign in', async () => {
    const added = user(server.dataDir, ['add', 'Carol', '--name', 'Carol Danvers', '--password-stdin'], 'carol-password-123\n');
    assert.equal(added.status, 0, added.err);
    assert.match(added.out, /Added carol \(Carol Danvers\)\./);
    const client = await RawOAuthClient.register(server, ['http://127.0.0.1:5000/cb']);
    const tokens = await client.authorize(new FormBrowser(server.url), { username: 'CAROL', password: 'carol-password-123' });
    assert.ok(tokens.access_token, 'usernames are case-insensitive');
  });

  it('generates and prints a password once when none is given on stdin', () => {
    const added = user(server.dataDir, ['add', 'dave']);
    assert.equal(added.status, 0, added.err);
    assert.match(added.out, /Password \(shown once\): [A-Za-z0-9]{20}\n/);
  });

  it('changes a password: the old one stops working', async () => {
    user(server.dataDir, ['add', 'erin', '--password-stdin'], 'erin-password-old\n');
    const changed = user(server.dataDir, ['passwd', 'erin', '--password-stdin'], 'erin-password-new\n');
    assert.equal(changed.status, 0, changed.err);
    const client = await RawOAuthClient.register(server, ['http://127.0.0.1:5000/cb']);
    await assert.rejects(client.authorize(new FormBrowser(server.url), { username: 'erin', password: 'erin-password-old' }));
    assert.ok((await client.authorize(new FormBrowser(server.url), { username: 'erin', password: 'erin-password-new' })).access_token);
  });

  it('refuses duplicates, weak passwords, bad names and unknown users with one clear line', () => {
    const cases: [string[], string | undefined, RegExp][] = [
      [['add', 'carol', '--password-stdin'], 'another-password-1\n', /^Error: a user named "carol" already exists\n$/],
      [['add', 'frank', '--password-stdin'], 'short\n', /^Error: passwords must be at least 12 characters\n$/],
      [['add', 'no spaces', '--password-stdin'], 'long-enough-password\n', /^Error: "no spaces" is not a valid username/],
      [['passwd', 'nobody', '--password-stdin'], 'long-enough-password\n', /^No user named "nobody"\.\n$/],
    ];
    for (const [args, input, message] of cases) {
      const result = user(server.dataDir, args, input);
      assert.equal(result.status, 1, args.join(' '));
      assert.match(result.err, message);
    }
    assert.equal(user(tempDir('empty'), ['bogus']).status, 2);
  });

  it('lists everyone', () => {
    const listed = user(server.dataDir, ['list']);
    assert.deepEqual(listed.out.trim().split('\n').map((line) => line.split('\t')[0]), ['admin', 'carol', 'dave', 'erin']);
  });
});

describe('npm run user -- passwd on a running server', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  it('passwd revokes what the old password started: the user\'s access token gets 401 at /mcp, the refresh token invalid_grant, and the browser must sign in again', async () => {
    const grace = { username: 'grace', password: 'grace-password-old' };
    assert.equal(user(server.dataDir, ['add', grace.username, '--password-stdin'], `${grace.password}\n`).status, 0);
    const client = await RawOAuthClient.registerLoopback(server);
    const browser = new FormBrowser(server.url);
    const tokens = await client.authorize(browser, grace);
    await assertTokenAccepted(server, tokens.access_token, 'before passwd');
    // Control: this browser is signed in, so the next authorization goes straight to the consent page.
    consentPage(await browser.open(client.authorizationRequest().url), 'before passwd');

    const changed = user(server.dataDir, ['passwd', grace.username, '--password-stdin'], 'grace-password-new\n');
    assert.equal(changed.status, 0, changed.err);
    assert.match(changed.out, /their sign-ins, grants and tokens are revoked/);

    await assertTokenRefused(server, tokens.access_token, 0, 'after passwd');
    const refresh = await client.refresh(tokens.refresh_token);
    assert.equal(refresh.status, 400, refresh.text);
    assert.equal(refresh.json?.error, 'invalid_grant', refresh.text);
    assert.equal(refresh.json?.access_token, undefined);
    signInPage(await browser.open(client.authorizationRequest().url), 'after passwd');
  });
});
