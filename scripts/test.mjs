#!/usr/bin/env node
// `npm test`: everything a clean clone needs to run every test, then the tests.
//   1. the test-only client packages (test/third-party/package.json: Gemini CLI core,
//      playwright-core), installed on first use and whenever their lockfile changes (cached in
//      test/third-party/node_modules; tests reach them through test/support/third-party-hooks.mjs);
//   2. the server built as `npm start` runs it (dist/), since end-to-end tests start that;
//   3. a type check of the tests;
//   4. node's test runner over test/**/*.test.ts (or the files/folders given as arguments);
//   5. a summary: the counts suites record (test/support/run-summary.ts) and the security
//      checklist's (from each test's verdict, test/support/security-table.mjs), one PASS/FAIL line per client, version and transport (from the runner's own
//      verdicts on the clients' end-to-end suites, test/support/compatibility.ts) and the
//      conformance suite's counts; after a full run, the README's compatibility table rewritten
//      from those lines; after a passing run with every test docs/security.md names, its Result column.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { reportChecklist } from '../test/support/security-table.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testDir = path.join(root, 'test');
const thirdPartyDir = path.join(testDir, 'third-party');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/** Written during the run (test-output/ is not tracked): the clients' verdicts, the conformance counts. */
const RESULTS_DIR = path.join(root, 'test-output', 'results');
const COMPATIBILITY_FILE = path.join(RESULTS_DIR, 'compatibility.jsonl');
const CONFORMANCE_FILE = path.join(RESULTS_DIR, 'conformance.jsonl');
/** Counts suites asked to be shown at the end (test/support/run-summary.ts). */
const SUMMARY_FILE = path.join(RESULTS_DIR, 'summary.jsonl');
const README = path.join(root, 'README.md');
const TABLE_START = '<!-- compatibility table: written by npm test -->';
const TABLE_END = '<!-- end of compatibility table -->';
/** The security checklist's traceability table (test/support/security-table.mjs). */
const SECURITY_DOC = path.join(root, 'docs', 'security.md');
/** A run that hangs fails after this long instead of holding CI (a full run takes minutes). */
const RUN_TIMEOUT_MS = 25 * 60_000;

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.status !== 0) {
    console.error(`\n${[command, ...args].join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

function ensureTestPackages() {
  const lock = path.join(thirdPartyDir, 'package-lock.json');
  const stamp = path.join(thirdPartyDir, 'node_modules', '.installed-from');
  const want = createHash('sha256').update(fs.readFileSync(lock)).update(process.version.split('.')[0]).digest('hex');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return;
  console.log('Installing the test-only client packages (test/third-party/package.json), once…');
  run(npm, ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: thirdPartyDir });
  fs.writeFileSync(stamp, want);
}

function testFiles(targets) {
  const found = [];
  const walk = (entry) => {
    const stat = fs.statSync(entry);
    if (stat.isDirectory()) {
      if (path.basename(entry) === 'node_modules' || entry === thirdPartyDir) return;
      for (const name of fs.readdirSync(entry).sort()) walk(path.join(entry, name));
    } else if (entry.endsWith('.test.ts')) {
      found.push(path.relative(root, entry));
    }
  };
  (targets.length ? targets.map((target) => path.resolve(target)) : [testDir]).forEach(walk);
  return found;
}

const files = testFiles(process.argv.slice(2));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
ensureTestPackages();
run(npm, ['run', '--silent', 'build:bench']);
run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.test.json']);

fs.rmSync(RESULTS_DIR, { recursive: true, force: true });
fs.mkdirSync(RESULTS_DIR, { recursive: true });
const result = spawnSync(process.execPath, [
  '--import', 'tsx',
  '--import', './test/support/third-party-register.mjs',
  '--test',
  // Once every test has finished, whatever a test left open (a socket, a timer) cannot keep the run alive.
  '--test-force-exit',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=./test/support/compatibility-reporter.mjs', `--test-reporter-destination=${COMPATIBILITY_FILE}`,
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
  '--test-timeout=300000',
  ...files,
], { cwd: root, stdio: 'inherit', env: { ...process.env, TEST_RESULTS_DIR: RESULTS_DIR }, timeout: RUN_TIMEOUT_MS, killSignal: 'SIGTERM' });
if (result.error?.code === 'ETIMEDOUT') console.error(`\nThe test run did not finish within ${RUN_TIMEOUT_MS / 60_000} minutes and was stopped (SIGTERM).`);
else if (result.error) console.error(`\nThe test run could not be started: ${result.error.message}`);
// docs/security.md's Result column, from a passing run that included every test it names.
const checklist = reportChecklist({
  documentPath: SECURITY_DOC,
  reporterLines: readJsonLines(COMPATIBILITY_FILE),
  toRelative: (file) => path.relative(root, file).split(path.sep).join('/'),
  runPassed: result.status === 0,
});
if (checklist.summary) fs.appendFileSync(SUMMARY_FILE, `${JSON.stringify({ suite: 'security checklist', ...checklist.summary })}\n`);
// The README table is rewritten only from a full run in which every test passed: a failed or
// partial run must not replace it (nor drop the rows of a file that broke before it ran).
summarize(process.argv.length === 2 && result.status === 0);
if (checklist.rewritten) console.log('\ndocs/security.md: the Result column was rewritten from these results.');
process.exit(result.status ?? 1);

function readJsonLines(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

/** The lines that show, at a glance, which clients work and what the conformance suite said. */
function summarize(rewriteReadme) {
  const clients = readJsonLines(COMPATIBILITY_FILE).filter((entry) => entry.kind === 'client')
    .sort((a, b) => a.client.localeCompare(b.client) || a.transport.localeCompare(b.transport) || a.registration.localeCompare(b.registration));
  const conformance = readJsonLines(CONFORMANCE_FILE);
  const counts = readJsonLines(SUMMARY_FILE).sort((a, b) => a.suite.localeCompare(b.suite));
  if (counts.length > 0) console.log('\nSuites that count what they checked:');
  for (const entry of counts) console.log(`  ${entry.passed ? 'PASS' : 'FAIL'}  ${entry.suite}: ${entry.line}`);
  if (clients.length === 0 && conformance.length === 0) return;
  if (clients.length > 0) console.log('\nClients, driven end to end with their own code:');
  for (const entry of clients) console.log(`  ${entry.result}  ${entry.client} ${entry.version} · ${entry.transport} · ${entry.registration}`);
  if (conformance.length > 0) console.log('\nMCP conformance suite:');
  for (const entry of conformance) console.log(`  ${entry.failed === 0 ? 'PASS' : 'FAIL'}  ${entry.package} ${entry.version} ${entry.suite}: ${entry.passed} passed, ${entry.failed} failed`);
  if (rewriteReadme) updateReadmeTable(clients, conformance);
}

function updateReadmeTable(clients, conformance) {
  const readme = fs.readFileSync(README, 'utf8');
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) return;
  const rows = [
    '| Client | Version | Transport | Registration | Result |',
    '| --- | --- | --- | --- | --- |',
    ...clients.map((entry) => `| ${entry.client} | ${entry.version} | ${entry.transport} | ${entry.registration} | ${entry.result} |`),
    '',
    '| Conformance suite | Version | Scenarios | How it gets through OAuth | Result |',
    '| --- | --- | --- | --- | --- |',
    ...conformance.map((entry) => `| ${entry.package} | ${entry.version} | ${entry.suite} | ${entry.authentication} | ${entry.passed} passed, ${entry.failed} failed |`),
  ];
  const table = `${TABLE_START}\n${rows.join('\n')}\n`;
  const updated = readme.slice(0, start) + table + readme.slice(end);
  if (updated !== readme) {
    fs.writeFileSync(README, updated);
    console.log('\nREADME.md: the compatibility table was rewritten from these results.');
  }
}
