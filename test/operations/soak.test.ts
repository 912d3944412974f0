import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBenchServer, type BenchServer } from '../../bench/processes.js';
import { runSoak, soakLine, type SoakReport } from '../../bench/soak.js';
import { recordRunSummary } from '../support/run-summary.js';
import { ADMIN } from '../support/server-process.js';

/**
 * The short CI version of `npm run bench`'s soak (bench/soak.ts, the same code): mixed load for
 * 12 s (tool calls, refreshes, registrations, revocations followed by a new authorization,
 * sessions opened and abandoned), every answer checked. It asserts no unexpected answer and a
 * bound on the heap's growth, never a time or a rate.
 */
const DURATION_MS = 12_000;
const IDLE_TTL_S = 3;
/** Heap after a full GC may grow this much over the run: far less than abandoned sessions would hold if nothing closed them. */
const HEAP_GROWTH_BOUND_MIB = 8;

describe('soak: 12 s of mixed load on one server', () => {
  let server: BenchServer;
  let report: SoakReport;

  before(async () => {
    // A short idle TTL, so that abandoned sessions are closed by it as well as by the per-caller cap.
    server = await startBenchServer({ pin: false, env: { MCP_SESSION_IDLE_TTL: `${IDLE_TTL_S}s` } });
    report = await runSoak({ server, person: ADMIN, durationMs: DURATION_MS, idleTtlMs: IDLE_TTL_S * 1000, workers: 4 });
    const passed = report.unexpected === 0 && report.heapMiB.growth <= HEAP_GROWTH_BOUND_MIB;
    recordRunSummary('soak (12 s mixed load)', soakLine(report), passed);
  });
  after(async () => {
    await server?.stop();
  });

  it('every kind of operation ran: calls, refreshes, registrations, revocations, abandoned sessions', () => {
    for (const [operation, count] of Object.entries(report.counts)) assert.ok(count > 0, `no ${operation} completed: ${soakLine(report)}`);
  });

  it('every answer was the expected one (0 unexpected statuses or bodies)', () => {
    assert.equal(report.unexpected, 0, `${soakLine(report)}\n${report.unexpectedExamples.join('\n')}`);
  });

  it(`the heap after a full GC grew by at most ${HEAP_GROWTH_BOUND_MIB} MiB over the run`, () => {
    assert.ok(report.heapMiB.growth <= HEAP_GROWTH_BOUND_MIB, soakLine(report));
  });
});
