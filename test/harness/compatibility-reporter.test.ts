import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../support/server-process.js';

/**
 * The compatibility table in the README is only as honest as the reporter that turns the runner's
 * events into PASS and FAIL: a client suite passes only when at least one of its tests ran and
 * passed and none failed, was skipped, marked todo or filtered out.
 */
/** This file runs under node --test, which marks its children as its own workers; the fixture run is not one. */
function withoutTestContext(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

interface ReporterLine {
  kind: string;
  transport: string;
  result: string;
  client: string;
  version: string;
  registration: string;
  file: string;
  name: string;
}

function reporterLines(args: string[] = []): ReporterLine[] {
  const run = spawnSync(process.execPath, [
    '--import', 'tsx', '--test', '--test-reporter=./test/support/compatibility-reporter.mjs', ...args,
    path.join('test', 'harness', 'fixtures', 'compatibility-suites.ts'),
  ], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: withoutTestContext() });
  const lines = run.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as ReporterLine);
  assert.ok(lines.length > 0, `the reporter wrote nothing: ${run.stderr}`);
  return lines;
}

function verdicts(args: string[] = []): Record<string, string> {
  const lines = reporterLines(args).filter((line) => line.kind === 'client');
  for (const line of lines) {
    assert.equal(line.client, 'Fixture client');
    assert.equal(line.version, '1.0.0');
    assert.equal(line.registration, 'dynamic registration');
  }
  return Object.fromEntries(lines.map((line) => [line.transport, line.result]));
}

describe('the compatibility reporter', () => {
  it('passes a client suite only when something in it ran and passed and nothing failed, was skipped or todo', () => {
    assert.deepEqual(verdicts(), {
      'all pass': 'PASS',
      'one fails': 'FAIL',
      'one skipped': 'FAIL',
      'only todo': 'FAIL',
      empty: 'FAIL',
      'nested pass': 'PASS',
      'nested skip': 'FAIL',
    });
  });

  it('fails a client suite whose tests a name pattern filtered out', () => {
    assert.equal(verdicts(['--test-name-pattern=^a$'])['all pass'], 'FAIL');
  });

  it('writes each test\'s own verdict by file and name (docs/security.md\'s Result column): PASS only for a test that ran and passed', () => {
    const tests = reporterLines().filter((line) => line.kind === 'test');
    for (const line of tests) assert.match(line.file, /compatibility-suites\.ts$/);
    const results = tests.map((line) => `${line.name}=${line.result}`).sort();
    // a: passes in four suites, is todo in one and skipped in one; b: fails once and is skipped once; z is outside any client suite.
    const expected = [...Array(4).fill('a=PASS'), 'a=FAIL', 'a=FAIL', ...Array(3).fill('b=PASS'), 'b=FAIL', 'b=FAIL', 'z=PASS'];
    assert.deepEqual(results, expected.sort());
  });
});
