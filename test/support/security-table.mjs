// docs/security.md's traceability table: one row per security checklist item, naming the tests that
// check it (`file` › test name) or saying why it does not apply. Read by
// test/security/traceability.test.ts, which holds it to the checklist items and the test files, and
// by scripts/test.mjs, which prints the checklist's counts from a run's verdicts (the lines
// test/support/compatibility-reporter.mjs writes) and rewrites the Result column from a run in which
// every test the table names passed.
import fs from 'node:fs';

export const TABLE_START = '<!-- security checklist table: checked by test/security/traceability.test.ts; the Result column is written by npm test -->';
export const TABLE_END = '<!-- end of security checklist table -->';
export const HEADER = ['Item', 'Requirement', 'Source', 'Tests', 'Result'];
const SEPARATOR = '<br>';
const TEST_REF = /^`([^`]+)` › (.+)$/;
const NOT_APPLICABLE = 'Not applicable: ';
const NOTE = 'Note: ';
export const RESULT_NOT_APPLICABLE = 'not applicable';

/** A cell's text: `\|` stands for a pipe inside a cell. */
const unescapeCell = (cell) => cell.trim().replace(/\\\|/g, '|');
const escapeCell = (text) => text.replace(/\|/g, '\\|');

/** The cells of a table line, `| a | b |` → ['a', 'b']. */
function cells(line) {
  return line.trim().replace(/^\|/, '').replace(/(?<!\\)\|$/, '').split(/(?<!\\)\|/).map(unescapeCell);
}

/**
 * The rows of the table in `markdown`: { id, requirement, source, tests: [{ file, name }], notes,
 * notApplicable (the reason, or undefined), result, lineIndex }. Throws on anything it cannot read,
 * so a malformed table fails the check instead of being half-read.
 */
export function parseChecklistTable(markdown) {
  const lines = markdown.split('\n');
  const start = lines.indexOf(TABLE_START);
  const end = lines.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`docs/security.md: the table markers are missing (${TABLE_START} … ${TABLE_END})`);
  const tableLines = lines.slice(start + 1, end).map((line, offset) => ({ line, lineIndex: start + 1 + offset })).filter(({ line }) => line.trim() !== '');
  const [header, separator, ...body] = tableLines;
  if (!header || JSON.stringify(cells(header.line)) !== JSON.stringify(HEADER)) throw new Error(`docs/security.md: the table header must be | ${HEADER.join(' | ')} |`);
  if (!separator || !cells(separator.line).every((cell) => /^-+$/.test(cell))) throw new Error('docs/security.md: the header separator line is missing');
  return body.map(({ line, lineIndex }) => {
    const row = cells(line);
    if (row.length !== HEADER.length) throw new Error(`docs/security.md line ${lineIndex + 1}: ${row.length} cells, not ${HEADER.length}: ${line}`);
    const [id, requirement, source, testsCell, result] = row;
    const tests = [];
    const notes = [];
    let notApplicable;
    for (const entry of testsCell.split(SEPARATOR).map((part) => part.trim()).filter(Boolean)) {
      const ref = TEST_REF.exec(entry);
      if (ref) tests.push({ file: ref[1], name: ref[2] });
      else if (entry.startsWith(NOT_APPLICABLE)) notApplicable = entry.slice(NOT_APPLICABLE.length).trim();
      else if (entry.startsWith(NOTE)) notes.push(entry.slice(NOTE.length).trim());
      else throw new Error(`docs/security.md line ${lineIndex + 1}, ${id}: "${entry}" is neither \`file\` › test name, "${NOT_APPLICABLE}…" nor "${NOTE}…"`);
    }
    return { id, requirement, source, tests, notes, notApplicable, result, lineIndex };
  });
}

const key = (file, name) => `${file}\u0000${name}`;

/**
 * Verdicts from the reporter's lines ({kind:'test', file, name, result}), by repository-relative
 * file and test name. A name that ran more than once (a loop, a repeated describe) keeps FAIL if
 * any run failed.
 */
export function verdictsFrom(reporterLines, toRelative) {
  const verdicts = new Map();
  for (const line of reporterLines) {
    if (line.kind !== 'test') continue;
    const id = key(toRelative(line.file), line.name);
    verdicts.set(id, verdicts.get(id) === 'FAIL' ? 'FAIL' : line.result);
  }
  return verdicts;
}

/** One row's result in a run: PASS when each of its tests ran and passed, FAIL when one failed, 'not run' otherwise. */
export function rowResult(row, verdicts) {
  if (row.tests.length === 0) return RESULT_NOT_APPLICABLE;
  const results = row.tests.map((test) => verdicts.get(key(test.file, test.name)));
  if (results.includes('FAIL')) return 'FAIL';
  if (results.every((result) => result === 'PASS')) return `PASS (${results.length} ${results.length === 1 ? 'test' : 'tests'})`;
  return 'not run';
}

/**
 * The count line `npm test` prints ("security checklist: 38 items tested, 38 passed; 6 not
 * applicable (reasons in docs/security.md)"), or undefined when the run included none of the
 * checklist's tests.
 */
export function checklistSummary(rows, verdicts) {
  const results = rows.map((row) => rowResult(row, verdicts));
  const count = (predicate) => results.filter(predicate).length;
  const tested = count((result) => result.startsWith('PASS') || result === 'FAIL');
  if (tested === 0) return undefined;
  const passed = count((result) => result.startsWith('PASS'));
  const notRun = count((result) => result === 'not run');
  const notApplicable = count((result) => result === RESULT_NOT_APPLICABLE);
  const failedIds = rows.filter((_row, index) => results[index] === 'FAIL').map((row) => row.id);
  const line = `${tested} items tested, ${passed} passed${failedIds.length ? ` (failed: ${failedIds.join(', ')})` : ''}`
    + `${notRun ? `; ${notRun} not run (their test files were not in this run)` : ''}; ${notApplicable} not applicable (reasons in docs/security.md)`;
  return { line, passed: failedIds.length === 0 };
}

/**
 * The markdown with each row's Result written from `verdicts`, or undefined unless every test the
 * table names ran and passed: a partial or failed run must not change what the document claims.
 */
export function withResults(markdown, verdicts) {
  const rows = parseChecklistTable(markdown);
  const results = rows.map((row) => rowResult(row, verdicts));
  if (results.some((result) => result === 'FAIL' || result === 'not run')) return undefined;
  const lines = markdown.split('\n');
  rows.forEach((row, index) => {
    const current = cells(lines[row.lineIndex]);
    current[HEADER.length - 1] = results[index];
    lines[row.lineIndex] = `| ${current.map(escapeCell).join(' | ')} |`;
  });
  return lines.join('\n');
}

/**
 * What scripts/test.mjs does after a run: the count line (added to the suites' counts it prints) and,
 * when the run passed and included every test the table names, the Result column rewritten.
 */
export function reportChecklist({ documentPath, reporterLines, toRelative, runPassed }) {
  if (!fs.existsSync(documentPath)) return { summary: undefined, rewritten: false };
  const markdown = fs.readFileSync(documentPath, 'utf8');
  const verdicts = verdictsFrom(reporterLines, toRelative);
  const summary = checklistSummary(parseChecklistTable(markdown), verdicts);
  const updated = runPassed ? withResults(markdown, verdicts) : undefined;
  if (updated === undefined || updated === markdown) return { summary, rewritten: false };
  fs.writeFileSync(documentPath, updated);
  return { summary, rewritten: true };
}
