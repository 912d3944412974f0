import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './server-process.js';

/**
 * The commands of the README's "Connect your client" section, read from the README itself, so the
 * recipe a person copies is the one the tests run (only the example URLs are replaced by the test
 * server's).
 */
const README_URLS = { mcpUrl: 'http://localhost:8080/mcp', sseUrl: 'http://localhost:8080/sse' } as const;

function connectSection(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Connect your client');
  if (start < 0) throw new Error('README.md has no "## Connect your client" section');
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/**
 * The one command line in a ```sh block of that section starting with `prefix`, as words, with the
 * README's example MCP and SSE URLs replaced by `server`'s.
 */
export function readmeCommand(prefix: string, server: { mcpUrl: string; sseUrl: string }): string[] {
  const lines = [...connectSection().matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((block) => block[1]!.split('\n')).map((line) => line.trim());
  const found = lines.filter((line) => line === prefix || line.startsWith(`${prefix} `));
  if (found.length !== 1) throw new Error(`README "Connect your client": expected one command starting with "${prefix}", found ${found.length}`);
  return found[0]!.split(/\s+/).map((word) => (word === README_URLS.mcpUrl ? server.mcpUrl : word === README_URLS.sseUrl ? server.sseUrl : word));
}
