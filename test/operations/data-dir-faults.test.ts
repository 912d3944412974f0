import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { runInMountNamespace, type ScriptResult } from '../support/mount-namespace.js';
import { ROOT, SERVER_ENTRY } from '../support/server-process.js';
import { recordRunSummary } from '../support/run-summary.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * The server started on a data directory it cannot write: on a read-only file system, or on a full
 * one, each both empty and holding the database from an earlier run. Each must refuse with exit 1
 * and one line on stderr naming DATA_DIR and what to do, and no stack trace.
 */

const SERVER = path.join(ROOT, SERVER_ENTRY);
const USER_COMMAND = path.join(ROOT, 'dist', 'scripts', 'user.js');
const PUBLIC_URL = 'http://localhost:1';

/** Lines that are not the server's answer: Node 20's notice from oidc-provider. */
const stripRuntimeNotice = (stderr: string) => stderr.replace(/^oidc-provider WARNING: Unsupported runtime.*\n/m, '');

interface Scenario {
  name: string;
  /** Shell lines run before the server starts, with $MNT a fresh mount point, $DATA_DIR under it, and $NODE this test's Node.js. */
  setup: string;
  expected: RegExp;
}

/** Creates the database the way an earlier run would have (`npm run user -- list` opens and migrates it). */
const CREATE_DATABASE = `"$NODE" "${USER_COMMAND}" list >/dev/null`;
/** Fills the file system: dd stops at ENOSPC, which is the point. */
const FILL = 'dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true';

const READ_ONLY = /^Cannot start: DATA_DIR \S+ cannot hold the database: the file system is read-only \(remount it read-write or set DATA_DIR to a writable place\)\n$/;
const FULL = /^Cannot start: DATA_DIR \S+ cannot hold the database: the disk is full \(\d+ KiB free; free some space or set DATA_DIR to another disk\)\n$/;

const scenarios: Scenario[] = [
  { name: 'a read-only file system, no database yet', setup: 'mount -t tmpfs -o ro,size=1m tmpfs "$MNT"', expected: READ_ONLY },
  {
    name: 'a read-only file system holding the database from an earlier run',
    setup: `mount -t tmpfs -o size=4m tmpfs "$MNT"; ${CREATE_DATABASE}; mount -o remount,ro "$MNT"`,
    expected: READ_ONLY,
  },
  { name: 'a full file system, no database yet', setup: `mount -t tmpfs -o size=64k tmpfs "$MNT"; ${FILL}`, expected: FULL },
  { name: 'a full file system holding the database from an earlier run', setup: `mount -t tmpfs -o size=4m tmpfs "$MNT"; ${CREATE_DATABASE}; ${FILL}`, expected: FULL },
];

function startOn(scenario: Scenario): ScriptResult & { dataDir: string } {
  const mountPoint = tempDir('mount');
  const dataDir = path.join(mountPoint, 'data');
  const script = `${scenario.setup}\nexec "$NODE" "${SERVER}"`;
  const result = runInMountNamespace(script, { NODE: process.execPath, MNT: mountPoint, DATA_DIR: dataDir, PORT: '0', PUBLIC_URL, ADMIN_PASSWORD: 'test-admin-password-1' });
  return { ...result, stderr: stripRuntimeNotice(result.stderr), dataDir };
}

describe('a data directory the server cannot write stops start-up with one line and exit 1', () => {
  let refused = 0;
  after(() => {
    recordRunSummary('faults', `data directory: ${refused} of ${scenarios.length} read-only or full data directories refused at start-up with one line and exit 1`, refused === scenarios.length);
  });
  for (const scenario of scenarios) {
    it(`${scenario.name}: exit 1, "Cannot start: DATA_DIR <dir> cannot hold the database: …" naming the fix, no stack trace`, () => {
      const result = startOn(scenario);
      assert.equal(result.status, 1, `exit status (stderr: ${result.stderr})`);
      assert.match(result.stderr, scenario.expected);
      assert.ok(result.stderr.includes(`DATA_DIR ${result.dataDir} `), `names the directory: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
      assert.equal(result.stdout, '', 'nothing claims the server is running');
      refused += 1;
    });
  }
});
