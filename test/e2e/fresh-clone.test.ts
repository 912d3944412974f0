import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../support/free-port.js';
import { ROOT } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * The README's quick start, literally: a clone of what is committed, `npm install`, `npm start`.
 * (Uncommitted work is not in the clone: this checks what a user would get.)
 */
describe('a fresh clone', () => {
  const clone = path.join(tempDir('clone'), 'uuid-mcp-server');
  after(() => fs.rmSync(path.dirname(clone), { recursive: true, force: true }));

  it('installs with `npm install`, and `npm start` serves /mcp and prints the URL and the first-run credentials', { timeout: 15 * 60_000 }, async () => {
    const cloned = spawnSync('git', ['clone', '--quiet', ROOT, clone], { encoding: 'utf8' });
    assert.equal(cloned.status, 0, cloned.stderr);

    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: clone, encoding: 'utf8', timeout: 12 * 60_000 });
    assert.equal(install.status, 0, `npm install failed:\n${install.stdout}\n${install.stderr}`);
    assert.ok(fs.existsSync(path.join(clone, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')), 'the SQLite driver was built (its install script is allowed)');
    assert.ok(!fs.existsSync(path.join(clone, 'node_modules', '@google')), 'test-only clients are not installed for users');

    const port = await freePort();
    // Only PORT is set (the seed's variable): everything else is the embedded default.
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port) };
    const start = spawn('npm', ['start'], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    start.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    start.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => start.once('exit', resolve));
    try {
      const deadline = Date.now() + 120_000;
      while (!/password: \S+/.test(output) && Date.now() < deadline && start.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.match(output, new RegExp(`UUID MCP Server is running at http://localhost:${port}/mcp`));
      assert.match(output, /username: admin\n\s+password: [A-Za-z0-9]{20}\n/, `first-run credentials printed:\n${output}`);

      const health = await fetch(`http://localhost:${port}/healthz`);
      assert.equal(health.status, 200);
      const unauthenticated = await fetch(`http://localhost:${port}/mcp`, { method: 'POST' });
      assert.equal(unauthenticated.status, 401);
      const metadata = (await (await fetch(`http://localhost:${port}/.well-known/oauth-protected-resource/mcp`)).json()) as { resource: string };
      assert.equal(metadata.resource, `http://localhost:${port}/mcp`);
      assert.ok(fs.existsSync(path.join(clone, 'data', 'uuid-mcp-server.sqlite')), 'the database is under ./data by default');
    } finally {
      // Like Ctrl-C in a terminal: the signal goes to npm and the server alike.
      process.kill(-start.pid!, 'SIGINT');
    }
    await exited;
    assert.match(output, /server\.stopping signal=SIGINT[\s\S]*server\.stopped/, `the server shut down gracefully:\n${output}`);
  });
});
