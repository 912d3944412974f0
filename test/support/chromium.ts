import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium: playwright-core drives it and never downloads a browser of its own. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Flags for a machine without internet: no sandbox (containers), no GPU, and none of Chromium's
 * own background traffic (component updates, sync, field trials), which would only flood refused
 * connections and could never reach anything anyway.
 */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches headless Chromium, or fails with what to install: page tests are never skipped. `args`: more command-line switches. */
export async function launchChromium(args: string[] = []): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: the page tests need Debian's Chromium. .ci/run installs it (apt-get install -y chromium); playwright-core downloads no browser.`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...ARGS, ...args], timeout: 30_000 });
}
