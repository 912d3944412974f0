import fs from 'node:fs';
import path from 'node:path';
import type { OAuthCredentials } from '@google/gemini-cli-core';
import { browserShim } from './browser-shim.js';
import { recordingFetch, type RecordedRequest } from './fetch-recorder.js';
import { tempDir } from './server-process.js';
import { installedVersion } from './third-party.js';

export type { RecordedRequest } from './fetch-recorder.js';

/**
 * Helpers for driving Gemini CLI's own MCP OAuth code (`@google/gemini-cli-core`, installed under
 * test/third-party) in-process. Nothing here re-implements Gemini: it only replaces what a person
 * and their desktop provide (a terminal to say "yes", a browser), keeps Gemini's files in a
 * temporary home, and records the HTTP requests Gemini makes so a test can look at them.
 */

export type GeminiCore = typeof import('@google/gemini-cli-core');

/** The installed package's version, which Gemini CLI also passes as its MCP client version. */
export const GEMINI_CORE_VERSION = installedVersion('@google/gemini-cli-core');

/** Environment variables these helpers change; all restored by `GeminiSandbox.restore()`. */
const ENV_KEYS = [
  'GEMINI_CLI_HOME',
  'GEMINI_CLI_INTEGRATION_TEST',
  'GEMINI_FORCE_ENCRYPTED_FILE_STORAGE',
  'GEMINI_FORCE_FILE_STORAGE',
  'OAUTH_CALLBACK_PORT',
  'GOOGLE_CLOUD_WORKSTATIONS',
  'PATH',
] as const;

/** The commands Gemini's `openBrowserSecurely` tries on Linux/BSD, in order (xdg-open, then fallbacks). */
const BROWSER_COMMANDS = ['xdg-open', 'gnome-open', 'kde-open', 'firefox', 'chromium', 'google-chrome', 'open'];

export interface GeminiSandbox {
  /** PATH as it was before the browser shims were put in front. */
  originalPath: string;
  /** GEMINI_CLI_HOME: Gemini keeps `.gemini/mcp-oauth-tokens.json` under it. */
  home: string;
  /** Every URL Gemini asked the desktop to open (the no-op browser shims log them here). */
  browserLaunches(): string[];
  restore(): void;
}

/**
 * A temporary Gemini home and a PATH on which "the browser" is a no-op script that records the URL
 * it was given and exits 0, so Gemini's real browser launch runs but opens nothing (Chromium is
 * installed on some machines). Set this up before importing the package.
 */
export function geminiSandbox(): GeminiSandbox {
  const saved = new Map(ENV_KEYS.map((key) => [key, process.env[key]]));
  const home = tempDir('gemini-home');
  const browser = browserShim(BROWSER_COMMANDS);
  process.env.GEMINI_CLI_HOME = home;
  // Gemini treats CI=true as headless unless this is set; it changes nothing else in the package.
  process.env.GEMINI_CLI_INTEGRATION_TEST = 'true';
  delete process.env.GEMINI_FORCE_ENCRYPTED_FILE_STORAGE;
  delete process.env.GEMINI_FORCE_FILE_STORAGE;
  delete process.env.OAUTH_CALLBACK_PORT;
  delete process.env.GOOGLE_CLOUD_WORKSTATIONS;
  process.env.PATH = `${browser.bin}${path.delimiter}${process.env.PATH ?? ''}`;
  return {
    originalPath: saved.get('PATH') ?? '',
    home,
    browserLaunches: browser.launches,
    restore() {
      for (const [key, value] of saved) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      fs.rmSync(home, { recursive: true, force: true });
      browser.remove();
    },
  };
}

/**
 * Gemini asks "Do you want to continue?" before opening the browser: on a terminal through its UI
 * (a ConsentRequest event), otherwise by reading stdin, which never answers under a test runner.
 * This makes the process look like an interactive terminal and answers yes through the UI event.
 * Returns the prompts it answered and a restore function.
 */
export function answerConsentYes(gemini: GeminiCore): { prompts: string[]; restore(): void } {
  const prompts: string[] = [];
  const stdinTty = Object.getOwnPropertyDescriptor(process.stdin, 'isTTY');
  const stdoutTty = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
  Object.defineProperty(process.stdin, 'isTTY', { value: true, configurable: true, writable: true });
  Object.defineProperty(process.stdout, 'isTTY', { value: true, configurable: true, writable: true });
  const listener = ({ prompt, onConfirm }: { prompt: string; onConfirm: (confirmed: boolean) => void }) => {
    prompts.push(prompt);
    onConfirm(true);
  };
  gemini.coreEvents.on(gemini.CoreEvent.ConsentRequest, listener);
  return {
    prompts,
    restore() {
      gemini.coreEvents.off(gemini.CoreEvent.ConsentRequest, listener);
      const put = (stream: object, descriptor: PropertyDescriptor | undefined) => {
        if (descriptor) Object.defineProperty(stream, 'isTTY', descriptor);
        else delete (stream as { isTTY?: boolean }).isTTY;
      };
      put(process.stdin, stdinTty);
      put(process.stdout, stdoutTty);
    },
  };
}

/** Gemini prints the authorization URL on a line of its own in an info message ("If the browser does not open…"). */
export function waitForAuthorizationUrl(gemini: GeminiCore, signal: AbortSignal): { url: Promise<URL>; messages: string[]; stop(): void } {
  const messages: string[] = [];
  let listener: ((payload: { severity: string; message: string }) => void) | undefined;
  const stop = () => {
    if (listener) gemini.coreEvents.off(gemini.CoreEvent.UserFeedback, listener);
    listener = undefined;
  };
  const url = new Promise<URL>((resolve, reject) => {
    listener = ({ severity, message }) => {
      messages.push(`[${severity}] ${message}`);
      const line = /^(https?:\/\/\S+)$/m.exec(message);
      if (severity === 'info' && line) resolve(new URL(line[1]!));
    };
    gemini.coreEvents.on(gemini.CoreEvent.UserFeedback, listener);
    signal.addEventListener('abort', () => reject(new Error(`Gemini showed no authorization URL in time; its messages: ${messages.join(' | ')}`)), { once: true });
  });
  url.catch(() => {});
  return { url, messages, stop };
}

/**
 * Wraps globalThis.fetch (which Gemini, the MCP SDK inside it and HeadlessBrowser all use) to record
 * the requests sent to `origin`. Requests elsewhere pass through unrecorded.
 */
export function recordFetch(origin: string, keepResponse?: (request: RecordedRequest) => boolean): { requests: RecordedRequest[]; restore(): void } {
  const original = globalThis.fetch;
  const recorder = recordingFetch(origin, keepResponse, original);
  globalThis.fetch = recorder.fetch as typeof globalThis.fetch;
  return {
    requests: recorder.requests,
    restore() {
      globalThis.fetch = original;
    },
  };
}

/** Routes Gemini's developer logging (debugLogger: console.log/debug/warn/error) into a buffer. */
export function captureDebugLog(gemini: GeminiCore): { lines: string[]; restore(): void } {
  const logger = gemini.debugLogger;
  const lines: string[] = [];
  const saved = { log: logger.log, warn: logger.warn, error: logger.error, debug: logger.debug };
  for (const level of ['log', 'warn', 'error', 'debug'] as const) {
    logger[level] = (...args: unknown[]) => {
      lines.push(`[${level}] ${args.map((arg) => (arg instanceof Error ? arg.message : String(arg))).join(' ')}`);
    };
  }
  return {
    lines,
    restore() {
      Object.assign(logger, saved);
    },
  };
}

/** Gemini's token file, read as Gemini writes it (a JSON array of credentials). */
export function readTokenFile(file: string): OAuthCredentials[] {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as OAuthCredentials[];
}

export function writeTokenFile(file: string, credentials: OAuthCredentials[]): void {
  fs.writeFileSync(file, JSON.stringify(credentials, null, 2), { mode: 0o600 });
}

/** Kept here for the Gemini tests that import it from this file. */
export { within } from './time-limit.js';
