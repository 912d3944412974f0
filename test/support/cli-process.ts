import { killNow, spawnTracked } from './child-process.js';

/**
 * Runs a client's command-line program as a person would type it, bounded in time: the exit code
 * and everything it printed, or an error carrying that output when it does not finish.
 */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr as printed, escape sequences and carriage returns removed. */
  text: string;
}

export interface CliOptions {
  cwd: string;
  /** The whole environment of the program (nothing is inherited implicitly). */
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
}

/** Terminal output as a person reads it: no colour or cursor sequences, no carriage returns. */
function plainText(output: string): string {
  return output.replace(/\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g, '').replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '').replace(/\u001b[()][A-Z0-9]/g, '').replace(/\r/g, '');
}

/** A program started and still running: what it printed so far, and its result when it ends. */
export interface CliRun {
  /** stdout and stderr so far, as plain text. */
  output(): string;
  result: Promise<CliResult>;
  /** Ends it and what it started, if still running (a test that fails while it waits). */
  stop(): void;
}

function startCli(command: string, args: string[], options: CliOptions): CliRun {
  // Its own process group: a timeout, or the end of the test process, also ends what it started (a callback server, a shell).
  const child = spawnTracked(command, args, { cwd: options.cwd, env: options.env, group: true });
  const killGroup = () => killNow(child, true);
  let stdout = '';
  let stderr = '';
  let both = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    both += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    both += chunk.toString();
  });
  const result = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error(`\`${[command, ...args].join(' ')}\` did not finish within ${options.timeoutMs} ms; it printed:\n${plainText(both)}`));
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, text: plainText(both) });
    });
  });
  result.catch(() => {}); // awaited by the caller; a rejection before that is not "unhandled"
  return { output: () => plainText(both), result, stop: killGroup };
}

export function runCli(command: string, args: string[], options: CliOptions): Promise<CliResult> {
  return startCli(command, args, options).result;
}

/**
 * The same, on a pseudo-terminal (util-linux `script`), for commands that refuse to run without
 * one (Claude Code's `mcp login` waits for a pasted redirect URL only on a terminal).
 */
export function startCliInTerminal(command: string, args: string[], options: CliOptions): CliRun {
  return startCli('script', ['-qfec', [command, ...args].map(shellQuote).join(' '), '/dev/null'], options);
}

export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
