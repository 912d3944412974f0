import fs from 'node:fs';
import path from 'node:path';
import { signInAndAllow, HeadlessBrowser, type Person } from './headless-browser.js';
import { tempDir } from './server-process.js';
import { within } from './time-limit.js';

/**
 * "The browser" of a client under test: a script that records the URL it was given and exits 0, so
 * the client's real browser launch runs but opens nothing (Chromium is installed on some machines).
 * A test then plays the person with HeadlessBrowser and delivers the redirect to the client.
 */
export interface BrowserShim {
  /** The directory holding the script under each requested name: put it first on PATH. */
  bin: string;
  /** The script itself, for clients that honour the BROWSER variable. */
  command: string;
  /** Every URL launched so far, oldest first. */
  launches(): string[];
  /** The first URL launched after `seen` earlier launches; rejects after `timeoutMs` or when `abort` rejects first. */
  nextLaunch(seen: number, timeoutMs: number, abort?: Promise<unknown>): Promise<URL>;
  remove(): void;
}

/** Creates the script in a fresh directory, once under each of `names` (commands a client runs by name). */
export function browserShim(names: string[] = []): BrowserShim {
  const bin = tempDir('browser');
  const log = path.join(bin, 'launches.log');
  const command = path.join(bin, 'record-url');
  const script = `#!/bin/sh\nprintf '%s\\n' "$1" >> '${log}'\nexit 0\n`;
  for (const name of ['record-url', ...names]) fs.writeFileSync(path.join(bin, name), script, { mode: 0o755 });
  const launches = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  return {
    bin,
    command,
    launches,
    nextLaunch(seen, timeoutMs, abort) {
      return new Promise<URL>((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        let timer: NodeJS.Timeout | undefined;
        const check = () => {
          const launched = launches();
          if (launched.length > seen) return resolve(new URL(launched[seen]!));
          if (Date.now() > deadline) return reject(new Error(`no browser launch within ${timeoutMs} ms`));
          timer = setTimeout(check, 50);
        };
        abort?.then(
          () => { clearTimeout(timer); reject(new Error('the client finished without launching a browser')); },
          (error: unknown) => { clearTimeout(timer); reject(error instanceof Error ? error : new Error(String(error))); },
        );
        check();
      });
    },
    remove() {
      fs.rmSync(bin, { recursive: true, force: true });
    },
  };
}

/**
 * The environment under which the `open` package (sindresorhus/open, used by mcp-remote and the
 * Inspector) hands a URL to the shim on Linux: it runs its own bundled xdg-open, which with no
 * display and a generic desktop runs `$BROWSER <url>`.
 */
export function openPackageEnv(shim: BrowserShim): Record<string, string> {
  return { BROWSER: shim.command, XDG_CURRENT_DESKTOP: 'X-Generic' };
}

export interface PersonAtBrowser {
  /** The authorization URL the client launched. */
  authorizationUrl: URL;
  /** Where our server sent the browser after sign-in and consent: the client's redirect URI with code, state, iss. */
  callback: URL;
  /** The client's callback server's answer to that redirect. */
  delivered: { status: number; text: string };
}

/**
 * What the person does once the client has launched the browser: waits (bounded) for the launch,
 * signs in and allows through the server's real forms, then follows the redirect to the client's
 * own callback server. `abort` (the client's run) ends the wait early if the client gives up.
 */
export async function signInAtLaunch(shim: BrowserShim, seen: number, serverUrl: string, person: Person, abort?: Promise<unknown>): Promise<PersonAtBrowser> {
  const authorizationUrl = await shim.nextLaunch(seen, 30_000, abort);
  const callback = await within(signInAndAllow(new HeadlessBrowser(serverUrl), authorizationUrl, person), 15_000, 'signing in and allowing');
  const response = await fetch(callback, { signal: AbortSignal.timeout(15_000) });
  return { authorizationUrl, callback, delivered: { status: response.status, text: await response.text() } };
}
