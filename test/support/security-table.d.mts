// Types for security-table.mjs (plain JavaScript, since scripts/test.mjs runs without tsx).
export interface TestRef {
  file: string;
  name: string;
}

export interface ChecklistRow {
  id: string;
  requirement: string;
  source: string;
  tests: TestRef[];
  notes: string[];
  notApplicable: string | undefined;
  result: string;
  lineIndex: number;
}

export type Verdicts = Map<string, 'PASS' | 'FAIL'>;

export const TABLE_START: string;
export const TABLE_END: string;
export const HEADER: string[];
export const RESULT_NOT_APPLICABLE: string;
export function parseChecklistTable(markdown: string): ChecklistRow[];
export function verdictsFrom(reporterLines: Array<Record<string, unknown>>, toRelative: (file: string) => string): Verdicts;
export function rowResult(row: ChecklistRow, verdicts: Verdicts): string;
export function checklistSummary(rows: ChecklistRow[], verdicts: Verdicts): { line: string; passed: boolean } | undefined;
export function withResults(markdown: string, verdicts: Verdicts): string | undefined;
export function reportChecklist(options: {
  documentPath: string;
  reporterLines: Array<Record<string, unknown>>;
  toRelative: (file: string) => string;
  runPassed: boolean;
}): { summary: { line: string; passed: boolean } | undefined; rewritten: boolean };
