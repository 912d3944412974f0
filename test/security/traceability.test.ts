import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../support/server-process.js';
import { checklistSummary, parseChecklistTable, RESULT_NOT_APPLICABLE, TABLE_END, TABLE_START, withResults, type ChecklistRow, type Verdicts } from '../support/security-table.mjs';
import { CHECKLIST_ITEMS } from './checklist-items.js';

const DOCUMENT = path.join(ROOT, 'docs', 'security.md');
const TEST_DIR = path.join(ROOT, 'test');
/** A test name starting with checklist ids: `[B1] …`, `[C4][B11] …`. */
const TAGS = /^((?:\[[A-Z]\d+\])+) /;

/** Every test file of the repository (not the test-only client packages), repository-relative. */
function testFiles(dir = TEST_DIR): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || full === path.join(TEST_DIR, 'third-party') ? [] : testFiles(full);
    return entry.name.endsWith('.test.ts') ? [path.relative(ROOT, full).split(path.sep).join('/')] : [];
  });
}

/**
 * The names of a file's tests written as string literals (`it('…'`, `test("…"`, or a template
 * without substitutions): the names the runner reports. Names built at run time are not listed, so
 * the table cannot name them.
 */
function literalTestNames(file: string): string[] {
  const source = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const names: string[] = [];
  for (const match of source.matchAll(/\b(?:it|test)\(\s*(?:'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\$]|\\.)*)`)/g)) {
    names.push((match[1] ?? match[2] ?? match[3]!).replace(/\\(.)/g, '$1'));
  }
  return names;
}

const tagsOf = (name: string) => (TAGS.exec(name)?.[1] ?? '').slice(1, -1).split('][').filter(Boolean);

describe('docs/security.md: the security checklist traceability table', () => {
  const rows = parseChecklistTable(fs.readFileSync(DOCUMENT, 'utf8'));
  const rowById = new Map(rows.map((row) => [row.id, row]));
  const names = new Map(testFiles().map((file) => [file, literalTestNames(file)]));

  it('has one row per checklist item, in the order of test/security/checklist-items.ts, with its requirement and source', () => {
    assert.deepEqual(rows.map((row) => row.id), CHECKLIST_ITEMS.map((item) => item.id));
    for (const item of CHECKLIST_ITEMS) {
      const row = rowById.get(item.id)!;
      assert.equal(row.requirement, item.requirement, `${item.id}: requirement`);
      assert.equal(row.source, item.source, `${item.id}: source`);
    }
  });

  it('names, for every item, the tests that check it or why it does not apply, never both; the Result column says PASS, not run yet, or not applicable', () => {
    for (const row of rows) {
      assert.ok(row.tests.length > 0 !== (row.notApplicable !== undefined), `${row.id}: tests or a reason (not applicable), exactly one of them`);
      if (row.notApplicable !== undefined) assert.ok(row.notApplicable.length > 20, `${row.id}: a reason, not a word`);
      if (row.notApplicable !== undefined) assert.equal(row.result, RESULT_NOT_APPLICABLE, `${row.id}: result`);
      else assert.match(row.result, /^(PASS \(\d+ tests?\)|not run yet)$/, `${row.id}: result`);
    }
  });

  it('names only tests that exist, each exactly once in the file named', () => {
    for (const row of rows) {
      for (const test of row.tests) {
        const inFile = names.get(test.file);
        assert.ok(inFile, `${row.id}: ${test.file} is not a test file`);
        const count = inFile.filter((name) => name === test.name).length;
        assert.equal(count, 1, `${row.id}: ${test.file} has ${count} tests named "${test.name}"`);
      }
    }
  });

  it('lists every test tagged with an item id in that item\'s row, and every tag is a checklist item', () => {
    let tagged = 0;
    for (const [file, fileNames] of names) {
      for (const name of fileNames) {
        for (const id of tagsOf(name)) {
          tagged += 1;
          const row = rowById.get(id);
          assert.ok(row, `${file} › ${name}: [${id}] is not a checklist item`);
          assert.ok(row.tests.some((test) => test.file === file && test.name === name), `${file} › ${name}: not named in ${id}'s row`);
        }
      }
    }
    assert.ok(tagged >= CHECKLIST_ITEMS.length / 2, `only ${tagged} tags found: is the tag pattern still right?`);
  });
});

describe('the Result column and the counts, from a run\'s verdicts (security-table.mjs)', () => {
  const markdown = [
    TABLE_START,
    '| Item | Requirement | Source | Tests | Result |',
    '| --- | --- | --- | --- | --- |',
    '| X1 | one | s | `test/a.test.ts` › [X1] a \\| b<br>`test/b.test.ts` › b | not run yet |',
    '| X2 | two | s | Not applicable: there is nothing of the kind here to test | not applicable |',
    TABLE_END,
  ].join('\n');
  const verdicts = (entries: Array<[string, string, 'PASS' | 'FAIL']>): Verdicts => new Map(entries.map(([file, name, result]) => [`${file}\u0000${name}`, result]));
  const rows: ChecklistRow[] = parseChecklistTable(markdown);

  it('reads a cell\'s tests, with \\| standing for a pipe', () => {
    assert.deepEqual(rows[0]!.tests, [{ file: 'test/a.test.ts', name: '[X1] a | b' }, { file: 'test/b.test.ts', name: 'b' }]);
    assert.equal(rows[1]!.notApplicable, 'there is nothing of the kind here to test');
  });

  it('rewrites the Result column only when every named test ran and passed', () => {
    assert.equal(withResults(markdown, verdicts([['test/a.test.ts', '[X1] a | b', 'PASS']])), undefined, 'one test did not run');
    assert.equal(withResults(markdown, verdicts([['test/a.test.ts', '[X1] a | b', 'PASS'], ['test/b.test.ts', 'b', 'FAIL']])), undefined, 'one test failed');
    const written = withResults(markdown, verdicts([['test/a.test.ts', '[X1] a | b', 'PASS'], ['test/b.test.ts', 'b', 'PASS']]));
    assert.ok(written);
    assert.deepEqual(parseChecklistTable(written).map((row) => row.result), ['PASS (2 tests)', 'not applicable']);
    assert.deepEqual(parseChecklistTable(written)[0]!.tests, rows[0]!.tests, 'the tests cell survives the rewrite');
  });

  it('counts items tested, passed, failed, not run and not applicable; nothing when none of the tests ran', () => {
    assert.equal(checklistSummary(rows, verdicts([])), undefined);
    assert.deepEqual(checklistSummary(rows, verdicts([['test/a.test.ts', '[X1] a | b', 'PASS'], ['test/b.test.ts', 'b', 'PASS']])), { line: '1 items tested, 1 passed; 1 not applicable (reasons in docs/security.md)', passed: true });
    assert.deepEqual(checklistSummary(rows, verdicts([['test/a.test.ts', '[X1] a | b', 'PASS'], ['test/b.test.ts', 'b', 'FAIL']])), { line: '1 items tested, 0 passed (failed: X1); 1 not applicable (reasons in docs/security.md)', passed: false });
  });
});
