import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './temp-dir.js';

/**
 * "The browser" of a client under test: a script that appends the URL it was given to a file and
 * exits 0, so the client's real browser launch runs but opens nothing (Chromium is installed on
 * some machines). It stands under every name a client may run to open a URL: `$BROWSER` (through
 * `command`), xdg-open and the fallbacks that Node's `open` package and Gemini try (through `bin`
 * first on PATH). The test reads the URL and plays the person itself (person-at-browser.ts).
 */
const OPENERS = ['xdg-open', 'gnome-open', 'kde-open', 'wslview', 'sensible-browser', 'x-www-browser', 'firefox', 'chromium', 'chromium-browser', 'google-chrome', 'open'];

export interface UrlOpener {
  /** The directory holding the script under each opener's name: put it first on the client's PATH. */
  bin: string;
  /** The script itself, for clients that honour the BROWSER variable. */
  command: string;
  /** Every URL launched so far, oldest first. */
  launches(): string[];
  /** The first URL launched after `seen` earlier launches (see LaunchWait). */
  nextLaunch(seen: number, timeoutMs: number, wait?: LaunchWait): Promise<URL>;
  remove(): void;
}

export interface LaunchWait {
  /** The client's run: when it settles first, the wait ends (the client gave up or finished without a browser). */
  abort?: Promise<unknown>;
  /** What the client showed (its output, a terminal pane), for the failure message. */
  describe?: () => string;
}

/** Creates the script in a fresh directory. */
export function recordingUrlOpener(): UrlOpener {
  const bin = tempDir('browser');
  const log = path.join(bin, 'launches.log');
  const command = path.join(bin, 'record-url');
  const script = `#!/bin/sh\nprintf '%s\\n' "$1" >> '${log}'\nexit 0\n`;
  for (const name of ['record-url', ...OPENERS]) fs.writeFileSync(path.join(bin, name), script, { mode: 0o755 });
  const launches = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  return {
    bin,
    command,
    launches,
    nextLaunch(seen, timeoutMs, { abort, describe } = {}) {
      const shown = () => (describe ? `; the client showed:\n${describe()}` : '');
      return new Promise<URL>((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        let timer: NodeJS.Timeout | undefined;
        const check = () => {
          const launched = launches();
          if (launched.length > seen) return resolve(new URL(launched[seen]!));
          if (Date.now() > deadline) return reject(new Error(`no browser launch within ${timeoutMs} ms${shown()}`));
          timer = setTimeout(check, 50);
        };
        abort?.then(
          () => { clearTimeout(timer); reject(new Error(`the client finished without launching a browser${shown()}`)); },
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
export function openPackageEnv(shim: UrlOpener): Record<string, string> {
  return { BROWSER: shim.command, XDG_CURRENT_DESKTOP: 'X-Generic' };
}
