import fs from 'node:fs';
import path from 'node:path';
import { recordingUrlOpener, openPackageEnv, type UrlOpener } from './url-opener.js';
import { spawnTracked } from './child-process.js';
import { tempDir } from './temp-dir.js';
import { nodeBinary, packageFile } from './third-party.js';

/**
 * The MCP Inspector's command-line client (`npx @modelcontextprotocol/inspector --cli …`), run as
 * that command runs it: its launcher under Node 22 (it needs >= 22.19), one process per
 * invocation. Its home is a temporary folder; secrets go to a file there, not the OS keychain
 * (MCP_INSPECTOR_SECRET_STORE=file: without it, on a machine with no Secret Service, it falls back
 * to memory and forgets every token on exit); interactive OAuth is allowed without a terminal
 * (MCP_AUTO_OPEN_ENABLED=true) and its browser (the `open` package) is the recording shim.
 */
const INSPECTOR_LAUNCHER = packageFile('@modelcontextprotocol/inspector', 'clients/launcher/build/index.js');

export interface InspectorResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface InspectorRun {
  exited: Promise<InspectorResult>;
  kill(): void;
}

/** One server's entry in the OAuth state file: discovery and, per issuer, the registration (tokens live in the secret store). */
export interface StoredServerState {
  discoveryState?: { authorizationServerUrl: string; resourceMetadataUrl?: string };
  byIssuer: Record<string, { clientInformation: { client_id: string; redirect_uris: string[]; client_name?: string; token_endpoint_auth_method?: string; application_type?: string; grant_types?: string[] }; clientRegistrationKind?: string; tokens?: unknown }>;
  activeIssuer?: string;
  tokens?: unknown;
}

export interface InspectorTokens {
  access_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in?: number;
  scope?: string;
}

export class InspectorSandbox {
  readonly home = tempDir('inspector-home');
  readonly browser: UrlOpener = recordingUrlOpener();
  /** Where it keeps OAuth state: ~/.mcp-inspector/storage/oauth.json. */
  readonly statePath = path.join(this.home, '.mcp-inspector', 'storage', 'oauth.json');
  /** The file secret store: ~/.mcp-inspector/secrets.json. */
  readonly secretsPath = path.join(this.home, '.mcp-inspector', 'secrets.json');
  readonly #running = new Set<InspectorRun>();

  /** `mcp-inspector --cli <args…>`; killed if it has not exited after `timeoutMs`. */
  start(args: string[], timeoutMs = 60_000): InspectorRun {
    const child = spawnTracked(nodeBinary('node22'), [INSPECTOR_LAUNCHER, '--cli', ...args], {
      env: {
        PATH: process.env.PATH,
        HOME: this.home,
        MCP_INSPECTOR_SECRET_STORE: 'file',
        MCP_AUTO_OPEN_ENABLED: 'true',
        ...openPackageEnv(this.browser),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[test] killed after ${timeoutMs} ms\n`;
      child.kill('SIGKILL');
    }, timeoutMs);
    const run: InspectorRun = {
      exited: new Promise((resolve) => child.once('close', (code) => {
        clearTimeout(timer);
        this.#running.delete(run);
        resolve({ code, stdout, stderr });
      })),
      kill: () => child.kill('SIGKILL'),
    };
    this.#running.add(run);
    return run;
  }

  serverState(mcpUrl: string): StoredServerState {
    const state = JSON.parse(fs.readFileSync(this.statePath, 'utf8')) as { servers: Record<string, StoredServerState> };
    const entry = state.servers[mcpUrl];
    if (!entry) throw new Error(`no entry for ${mcpUrl} in ${this.statePath}: ${Object.keys(state.servers).join(', ')}`);
    return entry;
  }

  secrets(): { encryption: string; secrets: Record<string, string> } {
    return JSON.parse(fs.readFileSync(this.secretsPath, 'utf8')) as { encryption: string; secrets: Record<string, string> };
  }

  /** The tokens it stored for `mcpUrl` (secret `oauth+<namespace>+<url>:tokens:<issuer>`). */
  tokens(mcpUrl: string, issuer: string): InspectorTokens {
    const suffix = `+${encodeURIComponent(mcpUrl)}:tokens:${issuer}`;
    const keys = Object.keys(this.secrets().secrets).filter((key) => key.startsWith('oauth+') && key.endsWith(suffix));
    if (keys.length !== 1) throw new Error(`expected one token secret ending ${suffix}, found: ${Object.keys(this.secrets().secrets).join(', ') || 'none'}`);
    return JSON.parse(this.secrets().secrets[keys[0]!]!) as InspectorTokens;
  }

  dispose(): void {
    for (const run of this.#running) run.kill();
    this.browser.remove();
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}
