import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, SERVER_ENTRY } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

/** The real server refusing to start: its exit code and what it printed on stderr. */
function startExpectingFailure(env: Record<string, string>): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [path.join(ROOT, SERVER_ENTRY)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, DATA_DIR: tempDir('upstream-refused'), ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stderr: result.stderr.replace(/^oidc-provider WARNING: Unsupported runtime.*\n/m, '') };
}

describe('a half-configured upstream stops start-up with one line', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['GitHub id without secret', { GITHUB_CLIENT_ID: 'Iv1.x' }, /^Configuration error: GITHUB_CLIENT_SECRET is missing: GITHUB_CLIENT_ID is set/],
    ['the seed\'s secret without id', { MCP_GITHUB_CLIENT_SECRET: 'x' }, /^Configuration error: GITHUB_CLIENT_ID is missing: MCP_GITHUB_CLIENT_SECRET is set/],
    ['OIDC issuer without client', { OIDC_ISSUER: 'https://idp.example.com' }, /^Configuration error: OIDC_CLIENT_ID is missing: OIDC_ISSUER is set/],
    ['no upstream with LOCAL_ACCOUNTS=false', { LOCAL_ACCOUNTS: 'false' }, /^Configuration error: LOCAL_ACCOUNTS is false but no upstream sign-in is configured/],
  ];
  for (const [label, env, message] of cases) {
    it(`${label}: exit 2 (a setting, as for every configuration error) and one line naming the variable`, () => {
      const result = startExpectingFailure(env);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.split('\n').filter(Boolean).length, 1, `one line: ${result.stderr}`);
    });
  }
});
