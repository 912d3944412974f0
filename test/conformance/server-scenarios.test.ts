import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { recordConformance } from '../support/compatibility.js';
import { describeChecks, listScenarios, readChecks, runConformance, type Check } from '../support/conformance.js';
import { FormBrowser } from '../support/form-browser.js';
import { mcpRequest, openSession, RawOAuthClient, request, toolsCallMessage } from '../support/raw-oauth.js';
import { serverLog } from '../support/server-log.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import { installedVersion } from '../support/third-party.js';
import { eventually } from '../support/time-limit.js';
import { isUuidV4 } from '../support/uuids.js';
import { EXPECTED_WARNINGS, SCENARIO_FIXTURES, type Fixtures } from './fixture-contract.js';

const SUITE = '@modelcontextprotocol/conformance';
/** The 0.2.0 pre-release, whose server-sse-polling sends the negotiated protocol version. */
const NEXT_SUITE = 'conformance-next';
const SUITE_TIMEOUT_MS = 240_000;
const SSE_POLLING = 'server-sse-polling';

/** What the server lists, as the suite's fixtures are named: tools, resource URIs, template URIs, prompts. */
type Listed = Required<Fixtures>;

async function listFixtures(server: ServerProcess, token: string): Promise<Listed> {
  const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: 'conformance-fixture-check', version: '1.0.0' });
  await client.connect(transport);
  try {
    return {
      tools: (await client.listTools()).tools.map((tool) => tool.name),
      resources: (await client.listResources()).resources.map((resource) => resource.uri),
      templates: (await client.listResourceTemplates()).resourceTemplates.map((template) => template.uriTemplate),
      prompts: (await client.listPrompts()).prompts.map((prompt) => prompt.name),
    };
  } finally {
    await client.close();
  }
}

/**
 * Why a scenario does not count as passed, or [] if it does. A scenario must record at least one
 * SUCCESS: INFO checks alone say nothing about the server. The one exception is 0.1.16's
 * server-sse-polling, whose checks are only INFO and its two expected warnings whatever the server
 * does (fixture-contract.ts); it counts as passed only when `nextSsePollingPassed`, 0.2.0's run of
 * the same scenario, succeeded.
 */
function problemsOf(scenario: string, checks: Check[] | undefined, listed: Listed, nextSsePollingPassed: boolean): string[] {
  if (!checks) return ['no checks.json: the scenario did not run'];
  if (checks.length === 0) return ['no checks recorded'];
  const problems = describeChecks(checks, ['FAILURE', 'SKIPPED']);
  const allowed = EXPECTED_WARNINGS[scenario] ?? [];
  problems.push(...describeChecks(checks.filter((check) => !allowed.includes(check.id)), ['WARNING']).map((line) => `unexpected ${line}`));
  if (!checks.some((check) => check.status === 'SUCCESS')) {
    if (scenario !== SSE_POLLING) problems.push('no SUCCESS check: the scenario verified nothing');
    else if (!nextSsePollingPassed) problems.push(`no SUCCESS check, and ${NEXT_SUITE}'s run of ${SSE_POLLING}, which stands in for it, did not pass`);
  }
  const needed = SCENARIO_FIXTURES[scenario] ?? {};
  for (const kind of ['tools', 'resources', 'templates', 'prompts'] as const) {
    for (const name of needed[kind] ?? []) {
      if (!listed[kind].includes(name)) problems.push(`false pass: ${name} is not in the server's ${kind} list`);
    }
  }
  return problems;
}

/** Runs `start` the first time it is asked for, and hands every caller that one run. */
function once<T>(start: () => Promise<T>): () => Promise<T> {
  let run: Promise<T> | undefined;
  return () => (run ??= start());
}

/** The 8-character session prefixes the server logged as opened, and as closed (with the reason). */
function loggedSessions(output: string): { opened: Set<string>; closed: Map<string, string> } {
  const opened = new Set([...output.matchAll(/mcp\.session_opened session=([0-9a-f]{8})/g)].map((match) => match[1]!));
  const closed = new Map([...output.matchAll(/mcp\.session_closed session=([0-9a-f]{8}) .*?reason=(\w+)/g)].map((match) => [match[1]!, match[2]!] as const));
  return { opened, closed };
}

describe(`the official MCP conformance suite ${installedVersion(SUITE)} (server scenarios), against the real server through its own OAuth`, () => {
  let server: ServerProcess;
  let token: string;
  let client: RawOAuthClient;
  let browser: FormBrowser;

  before(async () => {
    server = await startServerProcess({
      env: {
        TEST_ONLY_CONFORMANCE_FIXTURES: 'true',
        // The suite never ends its ~35 sessions; a short idle TTL lets the test watch the server close
        // them. The per-user cap (20) stays: the suite runs one scenario at a time and closes its
        // client, so its earlier sessions are idle and the cap replaces the least recently used.
        MCP_SESSION_IDLE_TTL: '3s',
      },
    });
    client = await RawOAuthClient.registerLoopback(server, { client_name: 'MCP conformance suite' });
    browser = new FormBrowser(server.url);
    token = (await client.authorize(browser, ADMIN)).access_token;
  });
  after(async () => {
    await server?.stop();
  });

  /**
   * The whole 0.1.16 suite, and 0.2.0's server-sse-polling: each runs once, for the first test
   * that needs it, so each test states what it depends on and none relies on another having run.
   */
  const suiteRun = once(async () => {
    const dir = tempDir('conformance-server');
    const log = await serverLog(server);
    const run = await runConformance(SUITE, ['server', '--url', server.mcpUrl, '--suite', 'all', '-o', dir], {
      bearer: { token, origin: server.url },
      timeoutMs: SUITE_TIMEOUT_MS,
    });
    // The sessions the suite opened, from what the server logged while it ran.
    await log.settle();
    return { ...run, dir, opened: loggedSessions(log.lines().join('\n')).opened, log };
  });
  const nextSsePollingRun = once(async () => {
    const dir = tempDir('conformance-sse-polling');
    const run = await runConformance(NEXT_SUITE, ['server', '--url', server.mcpUrl, '--scenario', SSE_POLLING, '-o', dir], {
      bearer: { token, origin: server.url },
      timeoutMs: 60_000,
    });
    return { ...run, checks: readChecks(dir, 'server', SSE_POLLING) };
  });
  /** Why 0.2.0's server-sse-polling did not pass, or [] if it did. */
  const nextSsePollingProblems = async (): Promise<string[]> => {
    const { code, output, checks } = await nextSsePollingRun();
    if (!checks) return [`no checks.json: ${output.slice(-1000)}`];
    const problems = describeChecks(checks, ['FAILURE', 'WARNING', 'SKIPPED']);
    for (const id of ['server-sse-priming-event', 'server-sse-retry-field', 'server-sse-disconnect-resume']) {
      if (checks.find((check) => check.id === id)?.status !== 'SUCCESS') problems.push(`${id} is not SUCCESS`);
    }
    if (code !== 0) problems.push(`exit ${code}`);
    return problems;
  };

  it('passes every server scenario with a token from the real sign-in and consent: 32 passed, 0 failed (false passes, unexpected warnings and scenarios that verified nothing count as failures)', { timeout: SUITE_TIMEOUT_MS + 120_000 }, async (t) => {
    const scenarios = listScenarios(SUITE, '--server');
    assert.equal(scenarios.length, 32, `0.1.16 has 32 server scenarios: ${scenarios.join(', ')}`);
    assert.deepEqual(scenarios.filter((scenario) => !(scenario in SCENARIO_FIXTURES)), [], 'every scenario is in the fixture contract');

    const run = await suiteRun();
    const listed = await listFixtures(server, token);
    const nextSsePolling = await nextSsePollingProblems();
    t.diagnostic(`${NEXT_SUITE} ${SSE_POLLING}: ${nextSsePolling.length === 0 ? 'PASS' : `FAIL (${nextSsePolling.join('; ')})`}`);

    const failures: string[] = [];
    let passed = 0;
    for (const scenario of scenarios) {
      const checks = readChecks(run.dir, 'server', scenario);
      const problems = problemsOf(scenario, checks, listed, nextSsePolling.length === 0);
      const counted = (checks ?? []).filter((check) => check.status === 'SUCCESS').length;
      if (problems.length === 0) passed += 1;
      else failures.push(`${scenario}: ${problems.join('; ')}`);
      t.diagnostic(`${problems.length === 0 ? 'PASS' : 'FAIL'} ${scenario} (${counted} SUCCESS checks)`);
      for (const warning of describeChecks((checks ?? []).filter((check) => EXPECTED_WARNINGS[scenario]?.includes(check.id)), ['WARNING'])) {
        t.diagnostic(`  expected ${warning}`);
      }
    }
    const failed = scenarios.length - passed;
    recordConformance({ package: SUITE, version: installedVersion(SUITE), suite: 'server scenarios', authentication: 'it cannot sign in: a token from the real sign-in and consent is added to its requests', passed, failed });
    t.diagnostic(`${passed} passed, ${failed} failed`);

    assert.deepEqual(failures, [], `suite output (tail):\n${run.output.slice(-3000)}`);
    assert.equal(passed, 32);
    assert.equal(run.code, 0, 'the suite itself reports no failed check');
  });

  it('closes every session the suite left open (per-user cap, idle eviction), stays healthy, and a fresh session still works', async (t) => {
    // The sessions are the 0.1.16 suite's (which never ends one itself): this test needs its run, the
    // first test's or its own when run alone. Other clients' sessions (0.2.0's, which it DELETEs) are not counted.
    const { opened, log } = await suiteRun();
    assert.ok(opened.size >= 32, `the suite opened a session per scenario (logged: ${opened.size})`);
    const closed = await eventually(() => {
      const now = loggedSessions(log.lines().join('\n')).closed;
      const open = [...opened].filter((id) => !now.has(id));
      assert.deepEqual(open, [], `every session was closed by the server; still open:\n${server.output().split('\n').filter((line) => open.some((id) => line.includes(id))).join('\n')}`);
      return now;
    }, 20_000, 250);
    const reasons = new Map<string, number>();
    for (const id of opened) reasons.set(closed.get(id)!, (reasons.get(closed.get(id)!) ?? 0) + 1);
    t.diagnostic(`${opened.size} sessions opened; the server closed them: ${[...reasons].map(([reason, count]) => `${count} ${reason}`).join(', ')}`);

    const health = await request(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: 'ok' });

    const sessionId = await openSession(server, token);
    const reply = await mcpRequest(server, token, toolsCallMessage(2, 'generate_uuid'), { sessionId });
    assert.equal(reply.status, 200, reply.text);
    const uuid = (reply.message?.result as CallToolResult | undefined)?.structuredContent?.uuids as string[] | undefined;
    assert.ok(uuid && isUuidV4(uuid[0]!), `a UUID from the real tool: ${reply.text}`);
  });

  it('keeps the real tools\' scope checks next to the fixtures: a token without uuid:generate gets the missing-scope error from generate_uuid, and fixtures still answer', async () => {
    const narrow = await client.authorize(browser, ADMIN, { scope: 'profile:read' });
    const sessionId = await openSession(server, narrow.access_token);
    const denied = await mcpRequest(server, narrow.access_token, toolsCallMessage(2, 'generate_uuid'), { sessionId });
    const deniedResult = denied.message?.result as CallToolResult | undefined;
    assert.equal(deniedResult?.isError, true, denied.text);
    assert.match(JSON.stringify(deniedResult?.content), /Missing scope \\"uuid:generate\\"/);
    const fixture = await mcpRequest(server, narrow.access_token, toolsCallMessage(3, 'test_simple_text'), { sessionId });
    assert.notEqual((fixture.message?.result as CallToolResult | undefined)?.isError, true, fixture.text);
  });

  it('resumes a stream the server closed mid-call (SEP-1699), as conformance 0.2.0 checks it: priming event with retry, result on the GET with Last-Event-ID, no warning', async (t) => {
    const run = await nextSsePollingRun();
    const checks = run.checks;
    assert.ok(checks, run.output);
    for (const line of describeChecks(checks, ['SUCCESS', 'WARNING', 'FAILURE'])) t.diagnostic(line);
    const status = (id: string) => checks.find((check) => check.id === id)?.status;
    assert.equal(status('server-sse-priming-event'), 'SUCCESS', 'an SSE stream starts with a priming event (id, empty data)');
    assert.equal(status('server-sse-retry-field'), 'SUCCESS', 'with a retry field');
    assert.equal(status('server-sse-disconnect-resume'), 'SUCCESS', 'the result arrives on the GET that resumes with Last-Event-ID');
    assert.deepEqual(describeChecks(checks, ['FAILURE', 'WARNING', 'SKIPPED']), []);
    assert.equal(run.code, 0, run.output);
  });

  it('fails without the token: the suite\'s requests get 401, so it cannot pass vacuously', async () => {
    const dir = tempDir('conformance-no-token');
    const run = await runConformance(SUITE, ['server', '--url', server.mcpUrl, '--scenario', 'tools-call-simple-text', '-o', dir], { timeoutMs: 60_000 });
    assert.equal(run.code, 1, run.output);
    const checks = readChecks(dir, 'server', 'tools-call-simple-text');
    assert.ok(checks, 'the scenario wrote its checks');
    const failure = checks.find((check) => check.status === 'FAILURE');
    assert.ok(failure, `a FAILURE check: ${JSON.stringify(checks)}`);
    assert.match(failure.errorMessage ?? '', /"error":"invalid_token".*needs an access token/, 'the failure is the bearer guard refusing the missing token');
  });
});
