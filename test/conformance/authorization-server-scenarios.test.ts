import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { recordConformance } from '../support/compatibility.js';
import { describeChecks, listScenarios, readChecks, startConformance, type Check } from '../support/conformance.js';
import { freePort } from '../support/free-port.js';
import { FormBrowser } from '../support/form-browser.js';
import { signInAndAllow } from '../support/person-at-browser.js';
import { RawOAuthClient, request } from '../support/raw-oauth.js';
import { escapeRegExp } from '../support/reg-exp.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import { installedVersion } from '../support/third-party.js';

/** The 0.2.0 pre-release of @modelcontextprotocol/conformance: the first with authorization-server scenarios. */
const SUITE = 'conformance-next';
const SCENARIOS = ['authorization-server-metadata-endpoint', 'authorization-code-grant'];

describe(`the official MCP conformance suite ${installedVersion(SUITE)} (authorization-server scenarios), against our authorization server`, () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  it('passes the metadata and authorization-code grant scenarios, a person signing in and allowing through the real forms: every check succeeds, CIMD support included', async (t) => {
    assert.deepEqual(listScenarios(SUITE, '--authorization'), SCENARIOS);

    // The suite receives the code on its own callback server, at a redirect URI registered beforehand.
    const port = await freePort();
    const redirectUri = `http://127.0.0.1:${port}/callback`;
    const client = await RawOAuthClient.register(server, [redirectUri], { client_name: 'MCP conformance suite' });
    const dir = tempDir('conformance-authorization');
    const run = startConformance(SUITE, ['authorization', '--url', server.url, '--client-id', client.clientId, '--resource', server.mcpUrl, '-p', String(port), '-o', dir], { timeoutMs: 120_000 });

    // It prints the authorization URL for a person to open; the person signs in and allows; their
    // browser is sent to the suite's callback.
    const issuer = escapeRegExp(server.url);
    const [authorizationUrl] = await run.waitFor(new RegExp(`^${issuer}/auth\\?\\S+$`, 'm'), 60_000);
    const callback = await signInAndAllow(new FormBrowser(server.url), authorizationUrl, ADMIN);
    assert.equal(`${callback.origin}${callback.pathname}`, redirectUri, `sent to the suite: ${callback.href}`);
    const delivered = await request(callback);
    assert.equal(delivered.status, 200, delivered.text);
    const code = await run.exited;

    const checks: Check[] = [];
    let passed = 0;
    for (const scenario of SCENARIOS) {
      const own = readChecks(dir, 'authorization-server', scenario);
      assert.ok(own, `${scenario} wrote its checks:\n${run.output()}`);
      checks.push(...own);
      // A scenario passes when every one of its checks succeeds: a WARNING (e.g. the SHOULD-level
      // client_id_metadata_document_supported check) counts against it like a FAILURE.
      if (own.length > 0 && own.every((check) => check.status === 'SUCCESS')) passed += 1;
    }
    const failed = SCENARIOS.length - passed;
    recordConformance({ package: '@modelcontextprotocol/conformance', version: installedVersion(SUITE), suite: 'authorization-server scenarios', authentication: 'a client registered beforehand for its callback; a person signs in and allows through the real pages', passed, failed });
    for (const line of describeChecks(checks, ['SUCCESS', 'FAILURE', 'SKIPPED', 'WARNING'])) t.diagnostic(line);
    t.diagnostic(`${passed} passed, ${failed} failed`);

    assert.deepEqual(describeChecks(checks.filter((check) => check.status !== 'SUCCESS'), ['FAILURE', 'SKIPPED', 'WARNING', 'INFO']), [], run.output());
    assert.equal(failed, 0);
    assert.ok(checks.some((check) => check.id === 'authorization-server-metadata-cimd' && check.status === 'SUCCESS'), 'the metadata advertises Client ID Metadata Documents');
    assert.ok(checks.some((check) => check.id === 'authorization-code-grant' && check.status === 'SUCCESS'), 'the grant itself succeeded');
    assert.equal(code, 0, run.output());
  });
});
