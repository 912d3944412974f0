// A node:test reporter (scripts/test.mjs adds it next to `spec`): for every suite named by
// test/support/compatibility.ts's compatibilitySuite(), one JSON line with the runner's verdict:
// {"client":…,"version":…,"transport":…,"registration":…,"result":"PASS"|"FAIL","file":…}.
const SUITE = /^\[client\] (.+) (\S+) · (.+) · (.+)$/;

export default async function* compatibilityReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const match = SUITE.exec(event.data.name);
    if (!match) continue;
    const [, client, version, transport, registration] = match;
    const result = event.type === 'test:pass' && !event.data.skip && !event.data.todo ? 'PASS' : 'FAIL';
    yield `${JSON.stringify({ client, version, transport, registration, result, file: event.data.file })}\n`;
  }
}
