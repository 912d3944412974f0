import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { atExit } from './at-exit.js';
import { recordingUrlOpener, openPackageEnv, type UrlOpener } from './url-opener.js';
import { tempDir } from './temp-dir.js';
import { packageFile } from './third-party.js';
import { within } from './time-limit.js';

/**
 * mcp-remote (the stdio bridge Claude Desktop and others configure as `npx mcp-remote <url> [port]`),
 * run as its own binary under a real stdio MCP client (the SDK v1 Client over StdioClientTransport,
 * which is how a desktop app spawns it), with a temporary HOME (it keeps its files in
 * ~/.mcp-auth, as the README says, when MCP_REMOTE_CONFIG_DIR is not set) and "the browser" a
 * script that records the authorization URL (it opens URLs with the `open` package).
 */
const MCP_REMOTE_PROXY = packageFile('mcp-remote', 'dist/proxy.js');

/** What mcp-remote stores per server (`<md5 of the server URL>_client_info.json`): the registration answer. */
export interface StoredClientInfo {
  client_id: string;
  redirect_uris: string[];
  client_name?: string;
  token_endpoint_auth_method?: string;
  grant_types?: string[];
  application_type?: string;
  issuer?: string;
}

/** `<hash>_tokens.json`: the token response plus `expires_at` (ms), which mcp-remote refreshes 60 s ahead of. */
export interface McpRemoteTokens {
  access_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in?: number;
  expires_at?: number;
  scope?: string;
  issuer?: string;
}

type StoredFile = 'client_info.json' | 'tokens.json';

export interface McpRemoteRun {
  client: Client;
  /** Settles when the stdio client has initialized through mcp-remote (after any sign-in it needed). */
  connected: Promise<void>;
  /** What mcp-remote printed on stderr so far (its log; it never prints tokens). */
  stderr(): string;
  /** Closes the client, which ends mcp-remote's stdin; the transport kills it if it lingers. */
  close(): Promise<void>;
}

export class McpRemoteSandbox {
  /** Its HOME. */
  readonly home = tempDir('mcp-remote-home');
  /** Where mcp-remote 0.15 keeps its files: ~/.mcp-auth, in a folder for its store version (1). */
  readonly storeDir = path.join(this.home, '.mcp-auth', 'mcp-remote-v1');
  readonly browser: UrlOpener = recordingUrlOpener();
  readonly #runs = new Set<McpRemoteRun>();

  /** Starts `node proxy.js <mcpUrl> [args…]` as a desktop app's stdio server and connects to it. */
  start(mcpUrl: string, args: string[] = []): McpRemoteRun {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MCP_REMOTE_PROXY, mcpUrl, ...args],
      env: { HOME: this.home, ...openPackageEnv(this.browser) },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const client = new Client({ name: 'uuid-mcp-server tests', version: '1.0.0' });
    const connected = client.connect(transport);
    connected.catch(() => {});
    // The SDK's transport spawned it: killed with the test process if still running then.
    const forget = atExit('processes', () => {
      if (transport.pid) process.kill(transport.pid, 'SIGKILL');
    });
    const run: McpRemoteRun = {
      client,
      connected,
      stderr: () => stderr,
      close: async () => {
        this.#runs.delete(run);
        forget();
        await within(client.close(), 10_000, 'closing mcp-remote').catch(() => {
          if (transport.pid) process.kill(transport.pid, 'SIGKILL');
        });
      },
    };
    this.#runs.add(run);
    return run;
  }

  /** The names of the files mcp-remote keeps, with the server's hash replaced by `<hash>`. */
  files(): string[] {
    if (!fs.existsSync(this.storeDir)) return [];
    return fs.readdirSync(this.storeDir).map((name) => name.replace(/^[0-9a-f]{32}_/, '<hash>_')).sort();
  }

  path(file: StoredFile): string {
    const names = fs.existsSync(this.storeDir) ? fs.readdirSync(this.storeDir).filter((name) => /^[0-9a-f]{32}_/.test(name) && name.endsWith(`_${file}`)) : [];
    if (names.length !== 1) throw new Error(`expected one *_${file} in ${this.storeDir}, found: ${names.join(', ') || 'none'}`);
    return path.join(this.storeDir, names[0]!);
  }

  clientInfo(): StoredClientInfo {
    return JSON.parse(fs.readFileSync(this.path('client_info.json'), 'utf8')) as StoredClientInfo;
  }

  tokens(): McpRemoteTokens {
    return JSON.parse(fs.readFileSync(this.path('tokens.json'), 'utf8')) as McpRemoteTokens;
  }

  writeTokens(tokens: McpRemoteTokens): void {
    fs.writeFileSync(this.path('tokens.json'), JSON.stringify(tokens, null, 2), { mode: 0o600 });
  }

  /** Forgets the sign-in (as if the tokens had been lost) but keeps the registration. */
  deleteTokens(): void {
    fs.rmSync(this.path('tokens.json'));
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.#runs].map((run) => run.close()));
    this.browser.remove();
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}
