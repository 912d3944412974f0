// Module resolution hooks: the test-only client packages (test/third-party/package.json) resolve
// from test/third-party, everything else as usual. Keeping them out of every test file's
// node_modules path means their own dependencies (Gemini CLI pins an older MCP SDK) never shadow
// the project's for the tests.
const PACKAGES = ['playwright-core', '@google/gemini-cli-core', '@modelcontextprotocol/client'];
const parentURL = new URL('../third-party/package.json', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (PACKAGES.some((name) => specifier === name || specifier.startsWith(`${name}/`))) {
    return nextResolve(specifier, { ...context, parentURL });
  }
  return nextResolve(specifier, context);
}
