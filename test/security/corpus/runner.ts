import { NoAnswerError, rawHttp, requestBytes, type RawHttpAnswer } from '../../support/raw-http.js';
import type { Case, Targets } from './case.js';
import { judge } from './oracle.js';

/** Sends generated cases to the server a few at a time, judges each answer, and keeps the counts. */

export interface Failure {
  index: number;
  testCase: Case;
  problem: string;
}

export class Tally {
  cases = 0;
  readonly perEndpoint = new Map<string, number>();
  readonly perStatus = new Map<number, number>();
  /** endpoint → status → count: shows which cases got past the checks to the handlers. */
  readonly perEndpointStatus = new Map<string, Map<number, number>>();
  serverErrors = 0;
  noAnswer = 0;
  readonly failures: Failure[] = [];

  count(testCase: Case, status: number | undefined): void {
    this.cases += 1;
    this.perEndpoint.set(testCase.endpoint, (this.perEndpoint.get(testCase.endpoint) ?? 0) + 1);
    if (status === undefined) this.noAnswer += 1;
    else {
      this.perStatus.set(status, (this.perStatus.get(status) ?? 0) + 1);
      const statuses = this.perEndpointStatus.get(testCase.endpoint) ?? new Map<number, number>();
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      this.perEndpointStatus.set(testCase.endpoint, statuses);
      if (status >= 500) this.serverErrors += 1;
    }
  }

  /** The share of `endpoint`'s answers with one of `statuses`. */
  share(endpoint: string, statuses: number[]): number {
    const counts = this.perEndpointStatus.get(endpoint);
    if (!counts) return 0;
    let matching = 0;
    let all = 0;
    for (const [status, count] of counts) {
      all += count;
      if (statuses.includes(status)) matching += count;
    }
    return matching / all;
  }

  /** "POST /mcp: 200×412 400×90 …", one line per endpoint. */
  statusLines(): string[] {
    return [...this.perEndpointStatus.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([endpoint, counts]) => `${endpoint}: ${[...counts.entries()].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(' ')}`);
  }
}

const CASE_TIMEOUT_MS = 15_000;

/** A short description of a case for a failure message: enough to see it, and to find it again by index and seed. */
export function describeCase(testCase: Case): string {
  const bytes = testCase.raw ?? requestBytes(testCase.request, 0);
  const text = bytes.toString('latin1');
  return JSON.stringify(text.length > 600 ? `${text.slice(0, 600)}… (${bytes.length} bytes)` : text);
}

/** Sessions an initialize opened are ended again, so memory measures leaks, not sessions the corpus asked for. */
async function endOpenedSession(port: number, answer: RawHttpAnswer, targets: Targets): Promise<void> {
  const opened = answer.headers['mcp-session-id'];
  if (!opened || opened === targets.sessionId || answer.status !== 200) return;
  const headers: Array<[string, string]> = [['Authorization', `Bearer ${targets.accessToken}`], ['Mcp-Session-Id', opened]];
  await rawHttp(port, requestBytes({ method: 'DELETE', target: '/mcp', headers }, port), { timeoutMs: CASE_TIMEOUT_MS }).catch(() => undefined);
}

async function runOne(testCase: Case, index: number, targets: Targets, tally: Tally): Promise<void> {
  const { port } = targets;
  const method = testCase.request.method;
  let answer: RawHttpAnswer;
  try {
    answer = await rawHttp(port, testCase.raw ?? requestBytes(testCase.request, port), { head: method === 'HEAD', openStream: method === 'GET', timeoutMs: CASE_TIMEOUT_MS });
  } catch (error) {
    tally.count(testCase, undefined);
    const problem = error instanceof NoAnswerError ? error.message : String(error);
    tally.failures.push({ index, testCase, problem });
    return;
  }
  tally.count(testCase, answer.status);
  const problem = judge(testCase, answer);
  if (problem) tally.failures.push({ index, testCase, problem: `${problem}\n    answer head: ${JSON.stringify(answer.head.slice(0, 500))}` });
  await endOpenedSession(port, answer, targets);
}

/** Runs `cases` with `concurrency` in flight; stops early (the rest uncounted) if `stop()` says so. */
export async function runCases(cases: Case[], targets: Targets, tally: Tally, concurrency: number, stop: () => boolean): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < cases.length && !stop()) {
      const index = next;
      next += 1;
      await runOne(cases[index]!, index, targets, tally);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
