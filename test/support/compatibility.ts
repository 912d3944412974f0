import fs from 'node:fs';
import path from 'node:path';
/**
 * The compatibility table (README, "Connect your client") comes from the test runner's own verdicts:
 * a client's end-to-end suite is named with `compatibilitySuite(…)`, and
 * test/support/compatibility-reporter.mjs collects the pass or fail of every suite so named.
 * `npm test` then prints one PASS/FAIL line per client, version and transport, and rewrites the
 * README table from them (scripts/test.mjs).
 */
export interface ClientUnderTest {
  /** What users call it: "Gemini CLI", "mcp-remote". */
  client: string;
  /** The version the test drove (read from the installed package, not written by hand). */
  version: string;
  /** "Streamable HTTP", "HTTP+SSE (2024-11-05)", … */
  transport: string;
  /** How it registered: "dynamic registration", "Client ID Metadata Document", … */
  registration: string;
}

/** Must match the pattern in compatibility-reporter.mjs. */
const PREFIX = '[client]';

/** The name of a client's end-to-end `describe`: `[client] Gemini CLI 0.61.0 · Streamable HTTP · dynamic registration`. */
export function compatibilitySuite(subject: ClientUnderTest): string {
  for (const [key, value] of Object.entries(subject)) {
    if (value.includes(' · ') || value.trim() === '') throw new Error(`compatibility ${key} "${value}" must be non-empty and must not contain " · "`);
  }
  if (/\s/.test(subject.version)) throw new Error(`compatibility version "${subject.version}" must be one word`);
  return `${PREFIX} ${subject.client} ${subject.version} · ${subject.transport} · ${subject.registration}`;
}

export interface ConformanceCount {
  /** "@modelcontextprotocol/conformance" */
  package: string;
  version: string;
  /** "server scenarios", "authorization-server scenarios" */
  suite: string;
  /** How the run got through OAuth, since the suite itself signs no one in (for the README table). */
  authentication: string;
  passed: number;
  failed: number;
}

/** Hands a conformance run's counts to `npm test`'s summary (a file in the run's results folder). */
export function recordConformance(count: ConformanceCount): void {
  const dir = process.env.TEST_RESULTS_DIR;
  if (!dir) return; // run outside scripts/test.mjs: nothing collects the summary
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, 'conformance.jsonl'), `${JSON.stringify(count)}\n`);
}
