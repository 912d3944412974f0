/**
 * `npm run bench`: starts everything it measures itself (on localhost only), measures, writes
 * bench/results/latest.json and rewrites the README's benchmark table. BENCH_QUICK=1 makes a
 * short run for development (bench/results/quick.json; the README is left alone).
 * Phases: throughput (4 targets, alternating rounds) → OAuth dance → idle sessions → start-up → soak.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN, SERVER_ENTRY } from '../test/support/server-process.js';
import { measureDance } from './dance.js';
import { measureIdleSessions } from './idle-sessions.js';
import { pinThisProcess, ROOT, startBenchServer } from './processes.js';
import { updateReadme } from './readme-table.js';
import { runSoak, soakLine } from './soak.js';
import { measureStartup } from './startup.js';
import { verdicts, type BenchResults } from './targets.js';
import { measureThroughput } from './throughput.js';

const quick = process.env.BENCH_QUICK === '1';
const plan = quick
  ? { rounds: 2, seconds: 3, danceRuns: 5, sessions: 1_000, minIdleTtlSeconds: 10, startupRuns: 2, soakSeconds: 15, soakWorkers: 4 }
  : { rounds: 8, seconds: 5, danceRuns: 20, sessions: 10_000, minIdleTtlSeconds: 20, startupRuns: 5, soakSeconds: 60, soakWorkers: 8 };
const log = (line: string) => console.log(line);

if (!fs.existsSync(path.join(ROOT, SERVER_ENTRY))) throw new Error('dist/ is missing: `npm run bench` builds it first (npm run build:bench)');
if (!pinThisProcess()) throw new Error('npm run bench pins the servers and itself to cores with `taskset` (util-linux), which is missing or failed');
const started = Date.now();
const loadAverageAtStart = os.loadavg()[0]!;
const cpus = os.cpus();

log(`throughput: ${plan.rounds} rounds of ${plan.seconds} s per target, forwards and backwards in turn, 32 connections`);
const throughput = await measureThroughput({ rounds: plan.rounds, seconds: plan.seconds, connections: 32, log });
log(`OAuth dance: ${plan.danceRuns} runs`);
const dance = await measureDance({ runs: plan.danceRuns, log });
log(`idle sessions: ${plan.sessions}`);
const idleSessions = await measureIdleSessions({ count: plan.sessions, minIdleTtlSeconds: plan.minIdleTtlSeconds, log });
log(`start-up: ${plan.startupRuns} fresh starts and restarts`);
const startup = await measureStartup({ runs: plan.startupRuns, log });
log(`soak: ${plan.soakSeconds} s of mixed load`);
const soakServer = await startBenchServer({ env: { MCP_SESSION_IDLE_TTL: '10s' } });
const soak = await runSoak({ server: soakServer, person: ADMIN, durationMs: plan.soakSeconds * 1000, idleTtlMs: 10_000, workers: plan.soakWorkers }).finally(() => soakServer.stop());
log(`  ${soakLine(soak)}`);
for (const example of soak.unexpectedExamples) log(`  unexpected: ${example}`);

const results: BenchResults = {
  machine: {
    cpu: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus.length,
    node: process.version,
    date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    quick,
    loadAverageAtStart: Math.round(loadAverageAtStart * 10) / 10,
  },
  throughput,
  dance,
  idleSessions,
  startup,
  soak,
};

const file = path.join(ROOT, 'bench', 'results', quick ? 'quick.json' : 'latest.json');
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
log(`\nResults (${((Date.now() - started) / 60_000).toFixed(1)} min), written to ${path.relative(ROOT, file)}:`);
for (const verdict of verdicts(results)) log(`  ${verdict.met ? 'met    ' : 'NOT MET'}  ${verdict.measure}: ${verdict.value} (target ${verdict.target})`);
if (!quick) log(updateReadme(results) ? 'README.md: the benchmark table was rewritten.' : 'README.md has no benchmark table markers: not rewritten.');

// Targets are measurements, not failures; a wrong answer is.
const wrong = Object.values(throughput.targets).some((target) => target.bad > 0) || soak.unexpected > 0;
if (wrong) {
  console.error('\nSome answers were wrong (see above): the measurements are not valid.');
  process.exitCode = 1;
}
