import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { heapSnapshotOptions, liveHeapMiB } from '../support/heap-snapshot.js';
import { rawHttp, requestBytes } from '../support/raw-http.js';
import { recordRunSummary } from '../support/run-summary.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import type { Case, Targets } from './corpus/case.js';
import { malformedRequests, oddHeaders, operations, pathsAndMethods } from './corpus/http-cases.js';
import { getAndDeleteMcp, postMcp, postMessages, sseStream } from './corpus/mcp-cases.js';
import { authorization, discovery, registration, revokeAndIntrospect, token } from './corpus/oauth-cases.js';
import { homePage, interactionForms, interactionPage } from './corpus/page-cases.js';
import { describeCase, runCases, Tally } from './corpus/runner.js';
import { prepareTargets } from './corpus/targets.js';

/**
 * The bad-input corpus (issue 4, part 3): generated requests to every endpoint and every JSON-RPC
 * method of the real server, judged one by one: no 5xx, every error in its endpoint's protocol,
 * the process alive and /healthz answering between phases, memory flat across the run.
 *
 * Seeded: CORPUS_SEED=<n> replays a run exactly (every failure message names the seed, the phase
 * and the case's index); unset, each run picks a new seed and prints it.
 */

const SEED = process.env.CORPUS_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.CORPUS_SEED);
if (!Number.isSafeInteger(SEED)) throw new Error(`CORPUS_SEED must be a whole number, not ${process.env.CORPUS_SEED}`);
/** Requests in flight at once: enough to overlap the server's work with ours on two cores. */
const CONCURRENCY = 4;
/**
 * How much the server's live heap (what a full garbage collection leaves) may grow from after the
 * warm-up to the end of the run: ~11,000 requests leaking even 1 KiB each would be 10 MiB.
 */
const HEAP_GROWTH_LIMIT_MIB = 6;
const MAX_FAILURES_SHOWN = 8;

const SERVER_ENV = {
  // High enough that the corpus reaches the handlers behind the limits (the limits have their own tests).
  REGISTRATION_RATE_LIMIT: '1000000',
  LOGIN_RATE_LIMIT: '1000000',
  TOKEN_RATE_LIMIT: '1000000',
  MCP_MAX_SESSIONS_PER_USER: '10000',
  // A generated https client_id would make the server fetch it from outside this machine.
  CLIENT_ID_METADATA_DOCUMENTS: 'false',
  // Sign-in attempts hash a password; the cheapest allowed cost keeps the corpus's many attempts quick.
  PASSWORD_HASH_COST: '10',
};

type Family = [name: string, arbitrary: fc.Arbitrary<Case>, count: number];

/** The cases of one phase: each family's, drawn from its own seed so adding a family does not change the others. */
function casesOf(families: Family[], phaseSeed: number): Case[] {
  return families.flatMap(([, arbitrary, count], index) => fc.sample(arbitrary, { seed: phaseSeed + index, numRuns: count }));
}

const totals = new Tally();
const phaseCounts: string[] = [];

function report(phase: string, tally: Tally): string {
  const shown = tally.failures.slice(0, MAX_FAILURES_SHOWN).map((failure) => `  #${failure.index} ${failure.testCase.endpoint}: ${failure.problem}\n    request: ${describeCase(failure.testCase)}`);
  return `${tally.failures.length} of ${tally.cases} answers wrong in phase "${phase}" (replay: CORPUS_SEED=${SEED}):\n${shown.join('\n')}`;
}

function merge(tally: Tally): void {
  totals.cases += tally.cases;
  totals.serverErrors += tally.serverErrors;
  totals.noAnswer += tally.noAnswer;
  for (const [endpoint, count] of tally.perEndpoint) totals.perEndpoint.set(endpoint, (totals.perEndpoint.get(endpoint) ?? 0) + count);
  for (const [status, count] of tally.perStatus) totals.perStatus.set(status, (totals.perStatus.get(status) ?? 0) + count);
  for (const [endpoint, counts] of tally.perEndpointStatus) {
    const into = totals.perEndpointStatus.get(endpoint) ?? new Map<number, number>();
    for (const [status, count] of counts) into.set(status, (into.get(status) ?? 0) + count);
    totals.perEndpointStatus.set(endpoint, into);
  }
  totals.failures.push(...tally.failures);
}

async function assertAlive(server: ServerProcess, when: string): Promise<void> {
  assert.equal(server.child.exitCode, null, `the server exited (${server.child.exitCode}) ${when} (CORPUS_SEED=${SEED}):\n${server.output().slice(-3000)}`);
  const health = await rawHttp(server.port, requestBytes({ method: 'GET', target: '/healthz', headers: [] }, server.port), { timeoutMs: 10_000 });
  assert.equal(health.status, 200, `/healthz ${when}: ${health.head}`);
}

/** Generates and runs one phase against `server`, then checks it is still alive and well. */
async function phase(server: ServerProcess, targets: Targets, name: string, families: Family[], phaseSeed: number): Promise<void> {
  const tally = new Tally();
  await runCases(casesOf(families, phaseSeed), targets, tally, CONCURRENCY, () => server.child.exitCode !== null);
  merge(tally);
  phaseCounts.push(`${name} ${tally.cases}`);
  await assertAlive(server, `after phase "${name}"`);
  assert.equal(tally.serverErrors, 0, report(name, tally));
  assert.equal(tally.failures.length, 0, report(name, tally));
}

after(() => {
  const endpoints = [...totals.perEndpoint.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([endpoint, count]) => `${endpoint} ${count}`).join(', ');
  const statuses = [...totals.perStatus.entries()].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(' ');
  const passed = totals.cases >= 10_000 && totals.serverErrors === 0 && totals.failures.length === 0;
  const line = `${totals.cases.toLocaleString('en-US')} cases (seed ${SEED}), ${totals.serverErrors} responses 5xx, ${totals.failures.length} wrong or missing answers; phases: ${phaseCounts.join(', ')}; statuses: ${statuses}; per endpoint: ${endpoints}`;
  recordRunSummary('bad-input corpus', line, passed);
  console.log(`bad-input corpus: ${line}\nanswers per endpoint:\n  ${totals.statusLines().join('\n  ')}`);
});

describe(`bad-input corpus against the server in sessions mode (CORPUS_SEED=${SEED})`, () => {
  let server: ServerProcess;
  let targets: Targets;
  let closeTargets: () => void = () => undefined;
  const snapshots = tempDir('heap-snapshots');
  let heapAfterWarmUp: number | undefined;
  before(async () => {
    server = await startServerProcess({ env: { ...SERVER_ENV, NODE_OPTIONS: heapSnapshotOptions(snapshots) } });
    ({ targets, close: closeTargets } = await prepareTargets(server, { sessions: true, legacy: true }));
  });
  after(async () => {
    closeTargets();
    await server?.stop();
  });

  const everything = (): Family[] => [
    ['POST /mcp', postMcp(targets), 150], ['/token', token(targets), 80], ['/auth', authorization(targets), 80], ['/register', registration(targets), 60],
    ['pages', interactionForms(targets), 60], ['/messages', postMessages(targets), 40], ['paths', pathsAndMethods(), 40], ['headers', oddHeaders(targets), 30],
    ['malformed', malformedRequests(targets), 30], ['revoke', revokeAndIntrospect(targets), 30],
  ];

  it('warm-up: 600 cases of every kind; then the server\'s live heap is measured', async () => {
    await phase(server, targets, 'warm-up', everything(), SEED);
    heapAfterWarmUp = await liveHeapMiB(server.child.pid!, snapshots);
  });

  it('POST/GET/DELETE /mcp, POST /messages and /sse: every method, malformed and oversized bodies, batches, bad ids, wrong sessions and headers: no 5xx, every error a JSON-RPC error object (or a Bearer challenge)', async () => {
    await phase(server, targets, 'MCP', [
      ['POST /mcp', postMcp(targets), 2300], ['GET/DELETE /mcp', getAndDeleteMcp(targets), 400], ['POST /messages', postMessages(targets), 500], ['/sse', sseStream(targets), 100],
    ], SEED + 100);
  });

  it('/token, /revoke, /introspect, /auth, /register(/:id), discovery, /jwks, /session/end: duplicated and conflicting parameters, odd redirect_uris, JSON and broken bodies: no 5xx, every error {error, error_description} with a registered code (HTML pages for /auth and /session/end)', async () => {
    await phase(server, targets, 'OAuth', [
      ['/token', token(targets), 1000], ['/revoke and /introspect', revokeAndIntrospect(targets), 400], ['/auth', authorization(targets), 900],
      ['/register', registration(targets), 700], ['discovery', discovery(targets), 300],
    ], SEED + 200);
  });

  it('sign-in and consent pages and their forms, and /: no 5xx, every error an HTML page', async () => {
    await phase(server, targets, 'pages', [['GET /interaction/:uid', interactionPage(targets), 300], ['form posts', interactionForms(targets), 700], ['/', homePage(), 150]], SEED + 300);
  });

  it('unknown paths and methods, /healthz and /static, huge and odd headers, malformed HTTP: no 5xx, every error in a protocol\'s format', async () => {
    await phase(server, targets, 'HTTP', [['paths', pathsAndMethods(), 500], ['operations', operations(), 200], ['odd headers', oddHeaders(targets), 400], ['malformed HTTP', malformedRequests(targets), 300]], SEED + 400);
  });

  it(`memory stays flat: the live heap after a full garbage collection grows by at most ${HEAP_GROWTH_LIMIT_MIB} MiB from after the warm-up to the end of the run`, async () => {
    assert.ok(heapAfterWarmUp !== undefined, 'no heap measured after the warm-up');
    const atEnd = await liveHeapMiB(server.child.pid!, snapshots);
    phaseCounts.push(`live heap ${heapAfterWarmUp.toFixed(1)}→${atEnd.toFixed(1)} MiB`);
    assert.ok(atEnd - heapAfterWarmUp <= HEAP_GROWTH_LIMIT_MIB, `the live heap grew from ${heapAfterWarmUp.toFixed(1)} to ${atEnd.toFixed(1)} MiB (CORPUS_SEED=${SEED})`);
    await assertAlive(server, 'at the end');
  });
});

describe(`bad-input corpus against the server in stateless mode, with the conformance fixtures' resources, prompts, logging and completion (CORPUS_SEED=${SEED})`, () => {
  let server: ServerProcess;
  let targets: Targets;
  before(async () => {
    server = await startServerProcess({ env: { ...SERVER_ENV, STATELESS: 'true', TEST_ONLY_CONFORMANCE_FIXTURES: 'true' } });
    ({ targets } = await prepareTargets(server, { sessions: false, legacy: false }));
  });
  after(async () => {
    await server?.stop();
  });

  it('POST/GET/DELETE /mcp: every method, malformed bodies, batches: no 5xx, every error a JSON-RPC error object', async () => {
    await phase(server, targets, 'stateless MCP', [['POST /mcp', postMcp(targets), 600], ['GET/DELETE /mcp', getAndDeleteMcp(targets), 100]], SEED + 500);
  });
});

it('the corpus ran at least 10,000 cases, with no 5xx and no wrong or missing answer', () => {
  assert.ok(totals.cases >= 10_000, `only ${totals.cases} cases ran (CORPUS_SEED=${SEED})`);
  assert.equal(totals.serverErrors, 0);
  assert.equal(totals.failures.length, 0);
});

/**
 * A corpus stopped at the front door (every case a 401, or a 404 from a renamed path) would still
 * show "0 5xx": each endpoint family must have cases that got past the checks to the code behind
 * them. The shares are about a third of what a run shows, so a seed cannot miss them by chance.
 */
it('the corpus reached the handlers: POST /mcp answered 200 by the MCP server for at least 10% of its cases, registrations (201), revocation or introspection (200) and the sign-in page (200) each succeeded at least once', () => {
  const mcpServed = totals.share('POST /mcp', [200, 202]);
  assert.ok(mcpServed >= 0.1, `only ${(mcpServed * 100).toFixed(1)}% of POST /mcp cases reached the MCP server (CORPUS_SEED=${SEED}):\n${totals.statusLines().join('\n')}`);
  // /token never succeeds here: the corpus spends no real code or refresh token (that would end its own grant).
  for (const [endpoints, status] of [[['POST /register'], 201], [['POST /revoke', 'POST /introspect'], 200], [['GET /interaction/:uid'], 200]] as const) {
    const count = endpoints.reduce((sum, endpoint) => sum + (totals.perEndpointStatus.get(endpoint)?.get(status) ?? 0), 0);
    assert.ok(count > 0, `no ${endpoints.join(' or ')} case was answered ${status} (CORPUS_SEED=${SEED}):\n${totals.statusLines().join('\n')}`);
  }
});
