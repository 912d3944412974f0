import fs from 'node:fs';
import path from 'node:path';
import { runCli, startCliInTerminal, type CliResult, type CliRun } from './cli-process.js';
import { tempDir } from './temp-dir.js';
import { installedVersion, packageFile } from './third-party.js';

/**
 * Claude Code (`@anthropic-ai/claude-code`, test/third-party) run as its own program, in a
 * temporary home and project folder. Nothing of it is re-implemented: this only finds its binary,
 * keeps its files where the test can read them, and turns off what would reach the internet.
 */
export const CLAUDE_CODE_VERSION = installedVersion('@anthropic-ai/claude-code');

/**
 * The native binary, from the platform package (@anthropic-ai/claude-code-<platform>), chosen as
 * the package's own cli-wrapper.cjs chooses it. Its postinstall may or may not have copied that
 * binary over bin/claude.exe (npm runs it unless scripts are off); the test does not depend on it,
 * since it calls the platform package's binary directly either way.
 */
function claudeBinary(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const musl = process.platform === 'linux' && report?.header?.glibcVersionRuntime === undefined;
  const key = `${process.platform}-${process.arch}${musl ? '-musl' : ''}`;
  return packageFile(`@anthropic-ai/claude-code-${key}`, process.platform === 'win32' ? 'claude.exe' : 'claude');
}

/** One stored MCP sign-in, as Claude Code keeps it in ~/.claude/.credentials.json under `mcpOAuth`. */
export interface ClaudeMcpCredentials {
  serverName: string;
  serverUrl: string;
  clientId?: string;
  accessToken: string;
  refreshToken?: string;
  expiresAt?: number;
  scope?: string;
  redirectUri?: string;
  issuer?: string;
  [key: string]: unknown;
}

export interface ClaudeSandbox {
  home: string;
  /** The folder Claude Code runs in: `claude mcp add` (local scope) records servers per folder. */
  project: string;
  run(args: string[], options?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliResult>;
  /** Started on a pseudo-terminal (`claude mcp login` needs one), to be played along with while it runs. */
  startInTerminal(args: string[], options?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): CliRun;
  /** ~/.claude.json, Claude Code's settings and per-project state. */
  config(): { projects?: Record<string, { mcpServers?: Record<string, unknown> }> };
  /** The `mcpOAuth` entries of ~/.claude/.credentials.json, by key (`<server name>|<hash>`). */
  mcpCredentials(): Record<string, ClaudeMcpCredentials>;
  writeMcpCredentials(entries: Record<string, ClaudeMcpCredentials>): void;
  remove(): void;
}

export function claudeSandbox(browserBin: string, browserCommand: string): ClaudeSandbox {
  const home = tempDir('claude-home');
  const project = tempDir('claude-project');
  const credentialsFile = path.join(home, '.claude', '.credentials.json');
  const baseEnv: NodeJS.ProcessEnv = {
    HOME: home,
    PATH: `${browserBin}${path.delimiter}${process.env.PATH ?? ''}`,
    BROWSER: browserCommand,
    LANG: 'C.UTF-8',
    TERM: 'xterm-256color',
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    // Claude Code's documented switches for "no traffic but what the user asked for".
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
  };
  const readCredentials = (): { mcpOAuth?: Record<string, ClaudeMcpCredentials> } =>
    fs.existsSync(credentialsFile) ? (JSON.parse(fs.readFileSync(credentialsFile, 'utf8')) as { mcpOAuth?: Record<string, ClaudeMcpCredentials> }) : {};
  return {
    home,
    project,
    run: (args, options = {}) => runCli(claudeBinary(), args, { cwd: project, env: { ...baseEnv, ...options.env }, timeoutMs: options.timeoutMs ?? 60_000 }),
    startInTerminal: (args, options = {}) => startCliInTerminal(claudeBinary(), args, { cwd: project, env: { ...baseEnv, ...options.env }, timeoutMs: options.timeoutMs ?? 60_000 }),
    config: () => JSON.parse(fs.readFileSync(path.join(home, '.claude.json'), 'utf8')) as ReturnType<ClaudeSandbox['config']>,
    mcpCredentials: () => readCredentials().mcpOAuth ?? {},
    writeMcpCredentials(entries) {
      fs.writeFileSync(credentialsFile, JSON.stringify({ ...readCredentials(), mcpOAuth: entries }), { mode: 0o600 });
    },
    remove() {
      fs.rmSync(home, { recursive: true, force: true });
      fs.rmSync(project, { recursive: true, force: true });
    },
  };
}
