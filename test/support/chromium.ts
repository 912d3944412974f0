import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { tempDir } from './temp-dir.js';

/** Debian's Chromium: playwright-core drives it and never downloads a browser of its own. */
const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Flags for a machine without internet: no sandbox (containers), no GPU, no crash reporter, and
 * none of Chromium's own background traffic (component updates, sync, field trials), which would
 * only flood refused connections and could never reach anything anyway.
 */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-breakpad',
];

/**
 * Name resolution in the browser: `hosts` (name → address, for a page on "another origin") and
 * this machine's loopback names resolve; every other name fails as if it did not exist, so no page
 * or Chromium feature can reach a real host whatever the machine's DNS says. (Chromium applies
 * EXCLUDE rules before any MAP rule, and the first MAP rule that matches.)
 */
function hostResolverRules(hosts: Record<string, string>): string {
  return [
    ...Object.entries(hosts).map(([name, address]) => `MAP ${name} ${address}`),
    'MAP * ~NOTFOUND',
    'EXCLUDE localhost',
    'EXCLUDE 127.0.0.1',
  ].join(', ');
}

export interface ChromiumOptions {
  /** Names the test maps to an address (e.g. `elsewhere.test` → 127.0.0.1). */
  hosts?: Record<string, string>;
}

/**
 * Launches headless Chromium, or fails with what to install: page tests are never skipped. Its
 * HOME is a temporary folder (removed when the test process ends), so it writes nothing (crash
 * reports, dconf cache) into the real home.
 */
export async function launchChromium(options: ChromiumOptions = {}): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: the page tests need Debian's Chromium. .ci/run installs it (apt-get install -y chromium); playwright-core downloads no browser.`);
  }
  const home = tempDir('chromium-home');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...ARGS, `--host-resolver-rules=${hostResolverRules(options.hosts ?? {})}`],
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: `${home}/.config`, XDG_CACHE_HOME: `${home}/.cache` },
    timeout: 30_000,
  });
}
