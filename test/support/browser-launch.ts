import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { HeadlessBrowser, signInAndAllow, type Person } from './headless-browser.js';
import { tempDir } from './server-process.js';

/**
 * "The browser" for a client running in its own process: every command a client may use to open a
 * URL (`$BROWSER`, `xdg-open` and the fallbacks Node's `open` package and Gemini try) is a script
 * that appends the URL to a file and exits 0. The test reads the URL from that file and plays the
 * person itself (test/support/headless-browser.ts: the real sign-in and consent forms), then
 * delivers the redirect to the client's callback, as the browser would.
 */
const OPENERS = ['xdg-open', 'gnome-open', 'kde-open', 'wslview', 'sensible-browser', 'x-www-browser', 'firefox', 'chromium', 'chromium-browser', 'google-chrome', 'open'];

export interface BrowserLaunches {
  /** Put first on the client's PATH. */
  bin: string;
  /** For `BROWSER=`: the same recording script. */
  browserCommand: string;
  /** Every URL a client asked to open so far, in order. */
  urls(): string[];
  /**
   * The next URL opened after the `seen` first ones; `describe` says what the client showed when
   * none comes within `timeoutMs` (its output, a terminal pane).
   */
  next(seen: number, timeoutMs: number, describe: () => string): Promise<URL>;
  remove(): void;
}

export function browserLaunches(): BrowserLaunches {
  const bin = tempDir('browser-bin');
  const log = path.join(bin, 'opened-urls.log');
  const script = `#!/bin/sh\nprintf '%s\\n' "$1" >> '${log}'\nexit 0\n`;
  for (const name of [...OPENERS, 'browser']) fs.writeFileSync(path.join(bin, name), script, { mode: 0o755 });
  const urls = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  return {
    bin,
    browserCommand: path.join(bin, 'browser'),
    urls,
    async next(seen, timeoutMs, describe) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const opened = urls();
        if (opened.length > seen) return new URL(opened[seen]!);
        await delay(200);
      }
      throw new Error(`the client opened no browser within ${timeoutMs} ms; it showed:\n${describe()}`);
    },
    remove() {
      fs.rmSync(bin, { recursive: true, force: true });
    },
  };
}

/**
 * What the person does with the URL their client opened: sign in and allow on our real forms
 * (HeadlessBrowser), then the browser follows the redirect to the client's loopback callback.
 */
export async function signInAllowAndReturn(serverUrl: string, authorizationUrl: URL, person: Person): Promise<{ callback: URL; status: number; page: string }> {
  const callback = await signInAndAllow(new HeadlessBrowser(serverUrl), authorizationUrl, person);
  const response = await fetch(callback, { signal: AbortSignal.timeout(15_000) });
  return { callback, status: response.status, page: await response.text() };
}
