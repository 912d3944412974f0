// A node:test reporter (scripts/test.mjs adds it next to `spec`): for every suite named by
// test/support/compatibility.ts's compatibilitySuite(), one JSON line with the runner's verdict:
// {"kind":"client","client":…,"version":…,"transport":…,"registration":…,"result":"PASS"|"FAIL","file":…}.
// PASS means the suite passed, at least one test in it ran and passed, and none was skipped,
// marked todo or cancelled: a suite whose tests were filtered out or skipped proves nothing.
// And for every test without subtests, its own verdict by file and name, which docs/security.md's
// Result column is written from (test/support/security-table.mjs):
// {"kind":"test","file":…,"name":…,"result":"PASS"|"FAIL"}, PASS only if it ran and passed.
const SUITE = /^\[client\] (.+) (\S+) · (.+) · (.+)$/;

export default async function* compatibilityReporter(source) {
  /** Per nesting level: what the tests finished so far under the suite still open one level up did. */
  const tally = [];
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, name, skip, todo, file, details } = event.data;
    const children = tally[nesting + 1] ?? { passed: 0, unproven: 0 };
    tally[nesting + 1] = undefined;
    const own = event.type === 'test:pass' && !skip && !todo;
    // A suite (or a test with subtests) counts what ran inside it; a test without subtests, itself.
    const isGroup = details?.type === 'suite' || children.passed + children.unproven > 0;
    const outcome = isGroup
      ? { passed: children.passed, unproven: children.unproven + (own ? 0 : 1) }
      : { passed: own ? 1 : 0, unproven: own ? 0 : 1 };
    const level = tally[nesting] ?? { passed: 0, unproven: 0 };
    tally[nesting] = { passed: level.passed + outcome.passed, unproven: level.unproven + outcome.unproven };
    if (!isGroup) yield `${JSON.stringify({ kind: 'test', file, name, result: own ? 'PASS' : 'FAIL' })}\n`;

    const match = SUITE.exec(name);
    if (!match) continue;
    const [, client, version, transport, registration] = match;
    const result = own && outcome.passed > 0 && outcome.unproven === 0 ? 'PASS' : 'FAIL';
    yield `${JSON.stringify({ kind: 'client', client, version, transport, registration, result, file })}\n`;
  }
}
