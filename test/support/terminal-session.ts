import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { atExit } from './at-exit.js';
import { shellQuote } from './cli-process.js';
import { tempDir } from './temp-dir.js';

/**
 * A full-screen terminal program driven as a person would drive it, in tmux: keys typed, the
 * screen read. Only for what a client offers nowhere but in its interactive UI (Gemini CLI's
 * `/mcp auth`). Each session has its own tmux server, on a socket in its own temporary folder, so
 * killing it touches nothing else; every wait has a deadline and fails with the screen as it was.
 * `tmux kill-server` alone only hangs up the pane's terminal, which a program such as Gemini CLI
 * survives (it was found running with no parent, its folder deleted), so kill() ends the
 * program's process group itself first, and checks it is gone.
 */
export interface TerminalOptions {
  cwd: string;
  /** The program's whole environment (the tmux server is started with it). */
  env: NodeJS.ProcessEnv;
  columns?: number;
  rows?: number;
}

export class TerminalSession {
  readonly #socket: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #configDir: string;
  /** The pane's program's process (and group) id, read once it started. */
  #panePid: number | undefined;
  #forget: () => void = () => {};

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
    session.#forget = atExit('processes', () => session.kill());
    try {
      session.#tmux(['-f', config, 'new-session', '-d', '-s', 'main', '-x', String(options.columns ?? 160), '-y', String(options.rows ?? 50), '-c', options.cwd, command.map(shellQuote).join(' ')]);
      session.#panePid = Number(session.#tmux(['display-message', '-p', '-t', 'main', '#{pane_pid}']).trim());
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

  /**
   * Ends the program in the pane (SIGTERM to its process group, SIGKILL after 3 s), then the tmux
   * server. Throws if the program's processes are still there after that.
   */
  kill(): void {
    if (!fs.existsSync(this.#configDir)) return;
    this.#forget();
    const group = this.#panePid;
    try {
      if (group !== undefined && Number.isInteger(group) && group > 1) {
        signalGroup(group, 'SIGTERM');
        if (!waitUntilGone(group, 3_000)) {
          signalGroup(group, 'SIGKILL');
          if (!waitUntilGone(group, 3_000)) throw new Error(`the terminal's program (process group ${group}: ${liveMembers(group).join(', ')}) survived SIGKILL`);
        }
      }
    } finally {
      spawnSync('tmux', ['-S', this.#socket, 'kill-server'], { env: this.#env, timeout: 10_000 });
      fs.rmSync(this.#configDir, { recursive: true, force: true });
    }
  }
}

function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // already gone
  }
}

/**
 * The live processes of process group `group`, from /proc (Linux). A zombie does not count: the
 * pane's program stays one after it exits, since tmux keeps a dead pane (remain-on-exit).
 */
function liveMembers(group: number): number[] {
  const members: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses, so read after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === group && state !== 'Z') members.push(Number(entry));
  }
  return members;
}

/** Whether process group `group` has no live process left, polled until `timeoutMs`. */
function waitUntilGone(group: number, timeoutMs: number): boolean {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (liveMembers(group).length === 0) return true;
    if (Date.now() >= deadline) return false;
    // kill() must stay synchronous (it also runs in the process's 'exit' handler): a blocking 50 ms pause.
    Atomics.wait(pause, 0, 0, 50);
  }
}
