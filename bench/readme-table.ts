import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './processes.js';
import { verdicts, type BenchResults } from './targets.js';

/** The README's benchmark section, between these markers, is rewritten by every full `npm run bench`. */
export const TABLE_START = '<!-- benchmark table: written by npm run bench -->';
export const TABLE_END = '<!-- end of benchmark table -->';

/** Reference points from /work/shared/notes/performance.md (the SDK alone, measured the same way). */
const REFERENCES = [
  { server: "the SDK's documented session pattern", ratio: '0.08×', cpu: '616 µs', session: '46 KiB (never evicted)' },
  { server: 'the seed design (new McpServer + transport per request)', ratio: '0.054×', cpu: '938 µs', session: '' },
  { server: "the SDK's own OAuth example server", ratio: '0.03×', cpu: '1,862 µs', session: '' },
];

export function benchTable(results: BenchResults): string {
  const { machine, throughput } = results;
  const rows = [
    `Measured on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}${machine.loadAverageAtStart === undefined ? '' : `, load average ${machine.loadAverageAtStart} at the start`}, each server pinned to one core and the load generator to the other${machine.quick ? ', QUICK run (BENCH_QUICK=1: fewer and shorter rounds)' : ''}.`,
    '',
    '| Measure | Value | Target | Met |',
    '| --- | --- | --- | --- |',
    ...verdicts(results).map((v) => `| ${v.measure} | ${v.value} | ${v.target} | ${v.met ? 'met' : '**not met**'} |`),
    '',
    '| `tools/call generate_uuid`, 32 connections | req/s ÷ raw echo | server CPU per request | p50 / p99 latency | idle session |',
    '| --- | --- | --- | --- | --- |',
    ...([
      ['raw `node:http` JSON echo (the ceiling)', 'echo'],
      ['this server, sessions, real token', 'sessions'],
      ['this server, stateless, real token', 'stateless'],
      ['this server, sessions, auth off', 'authOff'],
    ] as const).map(([label, name]) => {
      const t = throughput.targets[name];
      const session = name === 'sessions' ? `${results.idleSessions.rssKiBPerSession} KiB RSS, ${results.idleSessions.heapKiBPerSession} KiB heap` : '';
      return `| ${label} | ${t.ratioToEcho.toFixed(3)}× | ${t.serverCpuMicrosPerRequest} µs | ${t.p50Ms} / ${t.p99Ms} ms | ${session} |`;
    }),
    ...REFERENCES.map((r) => `| reference, measured by the note on the same kind of machine: ${r.server} | ${r.ratio} | ${r.cpu} | | ${r.session} |`),
  ];
  return rows.join('\n');
}

/** Rewrites the table between the markers; false when the README has no markers. */
export function updateReadme(results: BenchResults, readme = path.join(ROOT, 'README.md')): boolean {
  const text = fs.readFileSync(readme, 'utf8');
  const start = text.indexOf(TABLE_START);
  const end = text.indexOf(TABLE_END);
  if (start < 0 || end < start) return false;
  fs.writeFileSync(readme, `${text.slice(0, start)}${TABLE_START}\n${benchTable(results)}\n${text.slice(end)}`);
  return true;
}
