import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { OAuthCredentials } from '@google/gemini-cli-core';
import { runCli, type CliResult } from './cli-process.js';
import { readTokenFile } from './gemini-cli.js';
import { escapeRegExp } from './reg-exp.js';
import { tempDir } from './temp-dir.js';
import { TerminalSession } from './terminal-session.js';
import { installedVersion, packageFile } from './third-party.js';

/**
 * The full Gemini CLI (`@google/gemini-cli`, test/third-party) run as its own program, as a person
 * runs it: its commands, and its interactive UI in a terminal. Its files live in a temporary home
 * and project folder; the model it talks to is the stand-in given (GOOGLE_GEMINI_BASE_URL).
 */
export const GEMINI_CLI_VERSION = installedVersion('@google/gemini-cli');

/** The package's `gemini` bin (a Node.js bundle). */
function geminiBundle(): string {
  return packageFile('@google/gemini-cli', 'bundle/gemini.js');
}

export interface GeminiCliSandbox {
  home: string;
  /** The folder Gemini CLI runs in; `gemini mcp add` writes its `.gemini/settings.json` here. */
  project: string;
  /** `gemini <args>` in the project folder; `env` adds to or overrides the sandbox environment (undefined removes). */
  run(args: string[], options?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliResult>;
  /** `gemini` with no arguments: the interactive UI, in a terminal the test types into and reads. */
  startInteractive(): TerminalSession;
  /** The project's `.gemini/settings.json`. */
  projectSettings(): { mcpServers?: Record<string, unknown> };
  /** Gemini's token file (`~/.gemini/mcp-oauth-tokens.json`) and its entries. */
  tokenFile: string;
  storedTokens(): OAuthCredentials[];
  remove(): void;
}

export function geminiCliSandbox(browserBin: string, modelUrl: string): GeminiCliSandbox {
  const home = tempDir('gemini-cli-home');
  const project = tempDir('gemini-cli-project');
  fs.mkdirSync(path.join(home, '.gemini'), { recursive: true });
  // User settings a person makes once: their model credentials (here an API key for the stand-in),
  // and no usage statistics or update checks (they would leave this machine).
  fs.writeFileSync(path.join(home, '.gemini', 'settings.json'), JSON.stringify({
    security: { auth: { selectedType: 'gemini-api-key' } },
    privacy: { usageStatisticsEnabled: false },
    general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
  }, null, 2));
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    GEMINI_CLI_HOME: home,
    // The person trusts this folder (what answering Gemini's folder-trust prompt records); without it
    // Gemini starts no MCP server here (README: "Connect your client").
    GEMINI_CLI_TRUST_WORKSPACE: 'true',
    PATH: `${browserBin}${path.delimiter}${process.env.PATH ?? ''}`,
    GEMINI_API_KEY: 'test-key-for-the-local-stand-in',
    GOOGLE_GEMINI_BASE_URL: modelUrl,
    LANG: 'C.UTF-8',
    TERM: 'xterm-256color',
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
  };
  const tokenFile = path.join(home, '.gemini', 'mcp-oauth-tokens.json');
  return {
    home,
    project,
    tokenFile,
    run(args, options = {}) {
      const merged = Object.fromEntries(Object.entries({ ...env, ...options.env }).filter(([, value]) => value !== undefined));
      return runCli(process.execPath, [geminiBundle(), ...args], { cwd: project, env: merged, timeoutMs: options.timeoutMs ?? 90_000 });
    },
    startInteractive: () => TerminalSession.start([process.execPath, geminiBundle()], { cwd: project, env }),
    projectSettings: () => JSON.parse(fs.readFileSync(path.join(project, '.gemini', 'settings.json'), 'utf8')) as { mcpServers?: Record<string, unknown> },
    storedTokens: () => (fs.existsSync(tokenFile) ? readTokenFile(tokenFile) : []),
    remove() {
      fs.rmSync(home, { recursive: true, force: true });
      fs.rmSync(project, { recursive: true, force: true });
    },
  };
}

/**
 * Types a slash command into Gemini CLI's input box and submits it, then waits until `done` holds
 * (or the program has exited, for /quit). Its completion menu can take an Enter (completing what
 * is already typed); while the command still sits in the input box (below the last rule of
 * dashes) a few seconds after an Enter, Enter is pressed again.
 */
export async function submitSlashCommand(terminal: TerminalSession, command: string, done: (screen: string) => boolean, timeoutMs: number, what: string): Promise<string> {
  const pending = (screen: string) => {
    const lines = screen.split('\n');
    const rule = lines.findLastIndex((line) => /^─{10,}/.test(line.trim()));
    return lines.slice(rule + 1).some((line) => line.trim() === `> ${command}`);
  };
  terminal.type(command);
  await terminal.waitFor(new RegExp(`> ${escapeRegExp(command)}`), 10_000, `${command} typed`);
  const deadline = Date.now() + timeoutMs;
  let presses = 0;
  let lastPress = 0;
  for (;;) {
    const screen = terminal.screen();
    if (done(screen) || terminal.exited()) return screen;
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms of submitting ${command}; the screen:\n${screen}`);
    if (presses === 0 || (pending(screen) && presses < 3 && Date.now() - lastPress >= 4_000)) {
      terminal.press('Enter');
      presses += 1;
      lastPress = Date.now();
    }
    await delay(500);
  }
}
