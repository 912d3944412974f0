import fs from 'node:fs';
import path from 'node:path';

/**
 * Counts a suite wants `npm test` to print at the end of the run ("bad-input corpus: 10,240 cases,
 * 0 responses 5xx"), so they are seen without reading the whole log. Lines go to
 * summary.jsonl in the run's results folder (scripts/test.mjs sets TEST_RESULTS_DIR); a test
 * file run on its own without that folder just prints nothing extra.
 */
export function recordRunSummary(suite: string, line: string, passed: boolean): void {
  const dir = process.env.TEST_RESULTS_DIR;
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, 'summary.jsonl'), `${JSON.stringify({ suite, line, passed })}\n`);
}
