import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { shellQuote } from './cli-process.js';
import { tempDir } from './server-process.js';

/**
 * A full-screen terminal program driven as a person would drive it, in tmux: keys typed, the
 * screen read. Only for what a client offers nowhere but in its interactive UI (Gemini CLI's
 * `/mcp auth`). Each session has its own tmux server, on a socket in its own temporary folder, so
 * killing it touches nothing else and leaves nothing behind; every wait has a deadline and fails
 * with the screen as it was.
 */
export interface TerminalOptions {
  cwd: string;
  /** The program's whole environment (the tmux server is started with it). */
  env: NodeJS.ProcessEnv;
  columns?: number;
  rows?: number;
}

const live = new Set<TerminalSession>();
process.once('exit', () => live.forEach((session) => session.kill()));

export class TerminalSession {
  readonly #socket: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #configDir: string;

  private constructor(socket: string, env: NodeJS.ProcessEnv, configDir: string) {
    this.#socket = socket;
    this.#env = env;
    this.#configDir = configDir;
  }

  static start(command: string[], options: TerminalOptions): TerminalSession {
    const configDir = tempDir('tmux');
    const socket = path.join(configDir, 'socket');
    const config = path.join(configDir, 'tmux.conf');
    // The pane stays readable after the program exits, so a crash can be reported with its last screen.
    fs.writeFileSync(config, 'set -g remain-on-exit on\nset -g default-terminal xterm-256color\nset -g history-limit 5000\n');
    const session = new TerminalSession(socket, options.env, configDir);
    live.add(session);
    try {
      session.#tmux(['-f', config, 'new-session', '-d', '-s', 'main', '-x', String(options.columns ?? 160), '-y', String(options.rows ?? 50), '-c', options.cwd, command.map(shellQuote).join(' ')]);
    } catch (error) {
      session.kill();
      throw error;
    }
    return session;
  }

  #tmux(args: string[]): string {
    const result = spawnSync('tmux', ['-S', this.#socket, ...args], { env: this.#env, encoding: 'utf8', timeout: 10_000 });
    if (result.error) throw result.error;
    if (result.status !== 0) throw new Error(`tmux ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
    return result.stdout;
  }

  /** The screen and the lines scrolled above it, wrapped lines joined. */
  screen(): string {
    try {
      return this.#tmux(['capture-pane', '-p', '-J', '-S', '-200', '-t', 'main']);
    } catch (error) {
      return `(the terminal could not be read: ${error instanceof Error ? error.message : String(error)})`;
    }
  }

  /** Types text literally (no key names interpreted). */
  type(text: string): void {
    this.#tmux(['send-keys', '-t', 'main', '-l', text]);
  }

  /** Presses a key by its tmux name: Enter, Escape, Down, C-c. */
  press(key: string): void {
    this.#tmux(['send-keys', '-t', 'main', key]);
  }

  /** Whether the program in the terminal has exited. */
  exited(): boolean {
    try {
      return this.#tmux(['display-message', '-p', '-t', 'main', '#{pane_dead}']).trim() === '1';
    } catch {
      return true;
    }
  }

  /** Polls the screen until `pattern` appears; the screen then. Fails with the screen at the deadline or when the program exits. */
  async waitFor(pattern: RegExp, timeoutMs: number, what: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = this.screen();
      if (pattern.test(screen)) return screen;
      if (this.exited()) throw new Error(`${what}: the program exited first; its last screen:\n${screen}`);
      if (Date.now() >= deadline) throw new Error(`${what}: not on screen within ${timeoutMs} ms (${pattern}); the screen:\n${screen}`);
      await delay(300);
    }
  }

  kill(): void {
    if (!live.delete(this)) return;
    spawnSync('tmux', ['-S', this.#socket, 'kill-server'], { env: this.#env, timeout: 10_000 });
    fs.rmSync(this.#configDir, { recursive: true, force: true });
  }
}
