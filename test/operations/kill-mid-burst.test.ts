import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { acceptedAtMcp, AcknowledgedLog, exchanging, refreshing, registering, registrationExists, type BurstContext, type Chain } from '../support/acknowledged.js';
import { FormBrowser } from '../support/form-browser.js';
import { RawOAuthClient, tokensOf } from '../support/raw-oauth.js';
import { recordRunSummary } from '../support/run-summary.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sleep, within } from '../support/time-limit.js';

/**
 * kill -9 in the middle of a burst of registrations, code exchanges and refreshes, then a restart on
 * the same data directory: every result a client was told of (a success response received in full)
 * must still hold. The kill comes at a seeded random moment of each burst, several times over the
 * same database; FAULT_SEED=<n> replays a run.
 */

const ROUNDS = 3;
const KILL_AFTER_MS = { min: 500, max: 3_000 };
/** Long enough that every reuse this test makes of a rotated-out refresh token falls inside it. */
const REUSE_GRACE = '300s';
const ENV = { REGISTRATION_RATE_LIMIT: '1000000', LOGIN_RATE_LIMIT: '1000000', TOKEN_RATE_LIMIT: '1000000', REFRESH_REUSE_GRACE: REUSE_GRACE };
const REGISTERING = 2;
const EXCHANGING = 2;
const REFRESHING = 3;
/** Parallel checks after a restart. */
const CHECKS_AT_ONCE = 6;

const seed = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : Math.floor(Math.random() * 2 ** 31);
const killOffsets = fc.sample(fc.integer(KILL_AFTER_MS), { seed, numRuns: ROUNDS });

async function inBatches<T>(items: T[], each: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += CHECKS_AT_ONCE) {
    await Promise.all(items.slice(start, start + CHECKS_AT_ONCE).map(each));
  }
}

interface Checked {
  registrations: number;
  accessTokens: number;
  latestRefreshTokens: number;
  rotatedOutInGrace: number;
}

/**
 * Asks the restarted server about everything in the log: each registration exists, each unexpired
 * access token opens an MCP session, each chain's latest refresh token refreshes (the new pair joins
 * the log), and the token that refresh rotated out is still honoured inside REFRESH_REUSE_GRACE.
 */
async function checkEverything(server: ServerProcess, log: AcknowledgedLog, where: string): Promise<Checked> {
  const checked: Checked = { registrations: 0, accessTokens: 0, latestRefreshTokens: 0, rotatedOutInGrace: 0 };
  await inBatches(log.registrations, async (registration) => {
    assert.ok(await registrationExists(server, registration), `${where}: registration ${registration.clientId} was acknowledged but is gone`);
    checked.registrations += 1;
  });
  const accessTokens = log.chains.flatMap((chain) => chain.accessTokens).filter((token) => token.expiresAt > Date.now() + 5_000);
  await inBatches(accessTokens, async ({ token }) => {
    assert.ok(await acceptedAtMcp(server, token), `${where}: an acknowledged access token (${token.slice(0, 6)}…) is refused at /mcp`);
    checked.accessTokens += 1;
  });
  await inBatches(log.chains, async (chain) => {
    const latest = chain.refreshTokens.at(-1)!;
    const answer = await chain.client.refresh(latest);
    assert.equal(answer.status, 200, `${where}: the latest acknowledged refresh token of a chain (${latest.slice(0, 6)}…) no longer refreshes: ${answer.text}`);
    log.record(chain, tokensOf(answer));
    checked.latestRefreshTokens += 1;
    // The refresh just made rotated `latest` out; reused within the grace window it is honoured
    // (two processes of one client refreshing at once), answering with a pair of its own.
    const reuse = await chain.client.refresh(latest);
    assert.equal(reuse.status, 200, `${where}: a refresh token rotated out moments ago is honoured within REFRESH_REUSE_GRACE: ${reuse.text}`);
    checked.rotatedOutInGrace += 1;
  });
  return checked;
}

describe('kill -9 in the middle of a burst, then a restart on the same data directory', () => {
  it(`keeps every acknowledged registration, access token and latest refresh token, over ${ROUNDS} kills at seeded random moments (FAULT_SEED=${seed}); past the reuse grace a rotated-out token is refused with invalid_grant and ends its grant`, async (t) => {
    t.diagnostic(`FAULT_SEED=${seed}: kills ${killOffsets.join(', ')} ms into the bursts`);
    const log = new AcknowledgedLog();
    let server = await startServerProcess({ env: ENV });
    try {
      // The clients that exchange codes have a browser each, signed in once before the bursts; their
      // first grants and two more give the refreshing clients chains to start on.
      const exchangers: { client: RawOAuthClient; browser: FormBrowser }[] = [];
      for (let index = 0; index < Math.max(EXCHANGING, REFRESHING + 1); index += 1) {
        const client = await RawOAuthClient.registerLoopback(server);
        const browser = new FormBrowser(server.url);
        log.addChain(client, await client.authorize(browser, ADMIN));
        if (index < EXCHANGING) exchangers.push({ client, browser });
      }

      const totals = { kills: 0, cutByKill: 0, acknowledgedInBursts: 0, checks: 0 };
      for (const [round, killAfter] of killOffsets.entries()) {
        let killed = false;
        const context: BurstContext = { server, log, stopped: () => killed, cutByKill: 0 };
        const burst = Promise.all([
          ...Array.from({ length: REGISTERING }, (_, index) => registering(context, `burst ${round}.${index}`)),
          ...exchangers.map(({ client, browser }) => exchanging(context, client, browser, ADMIN)),
          ...Array.from({ length: REFRESHING }, () => refreshing(context)),
        ]);
        const before = log.size;
        await Promise.race([sleep(killAfter), burst]); // the burst runs this long; a client failing ends it early, and fails the test below
        server.child.kill('SIGKILL');
        killed = true;
        await server.exited;
        assert.equal(server.child.signalCode, 'SIGKILL', 'killed, not stopped');
        totals.kills += 1;
        await within(burst, 20_000, 'the burst clients noticing the kill');
        totals.cutByKill += context.cutByKill;
        totals.acknowledgedInBursts += log.size - before;
        t.diagnostic(`round ${round + 1}: killed ${killAfter} ms into the burst, cutting ${context.cutByKill} operations short; ${log.size - before} results acknowledged in the burst`);
        assert.ok(log.size > before, `round ${round + 1}: something was acknowledged before the kill (FAULT_SEED=${seed})`);

        server = await startServerProcess({ env: ENV, dataDir: server.dataDir, port: server.port });
        const checked = await checkEverything(server, log, `after kill ${round + 1} (FAULT_SEED=${seed})`);
        totals.checks += checked.registrations + checked.accessTokens + checked.latestRefreshTokens + checked.rotatedOutInGrace;
      }

      // Past the grace window (REFRESH_REUSE_GRACE=0 from now on), reusing a rotated-out refresh
      // token is what a thief replaying it looks like: invalid_grant, and the whole grant revoked, so
      // the chain's latest tokens stop working too. Other grants are untouched.
      assert.equal(await server.stop(), 0, server.output());
      server = await startServerProcess({ env: { ...ENV, REFRESH_REUSE_GRACE: '0' }, dataDir: server.dataDir, port: server.port });
      const [victim, bystander] = log.chains as [Chain, Chain];
      const rotatedOut = victim.refreshTokens.at(-2)!;
      const reuse = await victim.client.refresh(rotatedOut);
      assert.equal(reuse.status, 400, reuse.text);
      assert.equal(reuse.json?.error, 'invalid_grant', reuse.text);
      const latest = await victim.client.refresh(victim.refreshTokens.at(-1)!);
      assert.equal(latest.json?.error, 'invalid_grant', `the grant was revoked with the reuse: ${latest.text}`);
      assert.equal(await acceptedAtMcp(server, victim.accessTokens.at(-1)!.token), false, 'and its access token with it');
      const untouched = await bystander.client.refresh(bystander.refreshTokens.at(-1)!);
      assert.equal(untouched.status, 200, `another grant is untouched: ${untouched.text}`);

      const line = `kill -9: ${totals.kills} kills mid-burst (FAULT_SEED=${seed}) cutting ${totals.cutByKill} operations short; ${totals.acknowledgedInBursts} results acknowledged in the bursts (${log.registrations.length} registrations, ${log.exchanges} code exchanges, ${log.refreshes} refreshes) all valid after the restarts (${totals.checks} checks)`;
      t.diagnostic(line);
      recordRunSummary('faults', line, true);
    } finally {
      await server.kill();
    }
  });
});
