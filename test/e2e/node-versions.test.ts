import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../support/free-port.js';
import { InMemoryOAuthClient, loopbackRedirect, sdkClientMetadata } from '../support/sdk-oauth-client.js';
import { authorizeSdkClient, connectSdkClient, generateUuids } from '../support/sdk-flow.js';
import { ROOT, startServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import { nodeDistribution } from '../support/third-party.js';
import { isUuidV4 } from '../support/uuids.js';

/**
 * The server supports Node.js ≥ 20.18 and must keep working on 22 and 24. These machines run 20,
 * so the test-only package (test/third-party) brings official Node 22 and 24 builds from the npm
 * registry: each one installs a clean clone (compiling the SQLite driver for its ABI), builds it,
 * and serves the whole OAuth flow to the SDK client.
 */
const RELEASES = [
  { name: 'Node.js 22', pkg: 'node22', major: 'v22.' },
  { name: 'Node.js 24', pkg: 'node24', major: 'v24.' },
] as const;

describe('other Node.js releases', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

  for (const release of RELEASES) {
    it(`${release.name}: npm install builds, and the server serves discovery, registration, sign-in, tokens and tools`, { timeout: 15 * 60_000 }, async () => {
      const distribution = nodeDistribution(release.pkg);
      const node = path.join(distribution, 'bin', 'node');
      assert.ok(spawnSync(node, ['-v'], { encoding: 'utf8' }).stdout.startsWith(release.major));

      const dir = tempDir(release.pkg);
      dirs.push(dir);
      const clone = path.join(dir, 'uuid-mcp-server');
      assert.equal(spawnSync('git', ['clone', '--quiet', ROOT, clone]).status, 0);
      // That release's node first on PATH (npm runs under it), and its headers for the native build.
      const env = { ...process.env, PATH: `${path.dirname(node)}:${process.env.PATH}`, npm_config_nodedir: distribution };
      for (const args of [['ci', '--no-audit', '--no-fund'], ['run', 'build']]) {
        const step = spawnSync('npm', args, { cwd: clone, env, encoding: 'utf8', timeout: 12 * 60_000 });
        assert.equal(step.status, 0, `npm ${args.join(' ')} under ${release.name}:\n${step.stdout}\n${step.stderr}`);
      }

      const server = await startServerProcess({ node, root: clone });
      try {
        assert.equal(((await (await fetch(`${server.url}/healthz`)).json()) as { status: string }).status, 'ok');
        const redirect = loopbackRedirect(await freePort());
        const oauth = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
        await authorizeSdkClient(server, oauth);
        const client = await connectSdkClient(server, oauth);
        assert.ok(isUuidV4((await generateUuids(client))[0]!));
        await client.close();
      } finally {
        assert.equal(await server.stop(), 0, server.output());
      }
    });
  }
});
