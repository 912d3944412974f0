/**
 * BENCHMARK ONLY. The server under test, started by bench/processes.ts: bundled by `npm run build:bench`
 * (scripts/bundle.mjs) into dist/bench-server.bundle.mjs the same way as the server `npm start`
 * runs (dist/server.bundle.mjs), configured from the environment like index.ts, plus an IPC channel the
 * benchmark uses to read this process's memory and force a garbage collection (run with
 * --expose-gc), so no endpoint has to expose either. `--auth-off` replaces the bearer check with a
 * fixed caller (createApp's benchOnlyFixedCaller) to measure what the check costs.
 *
 * Messages in: {type: 'memory', gc: boolean} → {type: 'memory', heapUsed, rss, …};
 * {type: 'verify-password', cost} → {type: 'verify-password', ms} (one scrypt verification at that
 * cost, timed here: what sign-in spends on it in this process, on this core);
 * {type: 'stop'}.
 * Messages out: {type: 'ready', port} once listening, or {type: 'failed', message}.
 */
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { performance } from 'node:perf_hooks';
import { hashPassword, verifyPassword } from '../src/authorization/passwords.js';
import { mcpScopeNames } from '../src/authorization/scopes.js';
import { loadConfig } from '../src/config.js';
import { batchedSink, createLogger } from '../src/log.js';
import { startServer } from '../src/server.js';

export type ToServer = { type: 'memory'; gc: boolean } | { type: 'verify-password'; cost: number } | { type: 'stop' };
export type FromServer =
  | { type: 'ready'; port: number }
  | { type: 'failed'; message: string }
  | { type: 'memory'; heapUsed: number; heapTotal: number; rss: number; external: number }
  | { type: 'verify-password'; ms: number };

const send = (message: FromServer) => process.send?.(message);

async function main(): Promise<void> {
  if (!process.send) throw new Error('bench/server-under-test.ts is started by the benchmark, with an IPC channel');
  const config = loadConfig();
  const sink = batchedSink();
  const fixedCaller: AuthInfo | undefined = process.argv.includes('--auth-off')
    ? { token: '', clientId: 'bench-auth-off', scopes: [...mcpScopeNames], extra: { subject: 'bench-auth-off' } }
    : undefined;
  const server = await startServer(config, createLogger(sink), sink, { benchOnlyFixedCaller: fixedCaller });

  const gc = (globalThis as { gc?: () => void }).gc;
  const PASSWORD = 'bench-password-timing';
  const hashes = new Map<number, Promise<string>>();
  const timeVerification = async (cost: number) => {
    if (!hashes.has(cost)) hashes.set(cost, hashPassword(PASSWORD, cost));
    const stored = await hashes.get(cost)!;
    const start = performance.now();
    if (!(await verifyPassword(PASSWORD, stored))) throw new Error('the password did not verify');
    return performance.now() - start;
  };
  process.on('message', (message: ToServer) => {
    if (message.type === 'memory') {
      // Twice: the first pass can leave what finalizers released for the next.
      if (message.gc && gc) {
        gc();
        gc();
      }
      const usage = process.memoryUsage();
      send({ type: 'memory', heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, rss: usage.rss, external: usage.external });
    } else if (message.type === 'verify-password') {
      void timeVerification(message.cost).then((ms) => send({ type: 'verify-password', ms }));
    } else if (message.type === 'stop') {
      void server.stop(2_000).finally(() => process.exit(0));
    }
  });
  // The benchmark went away: do not outlive it.
  process.on('disconnect', () => void server.stop(1_000).finally(() => process.exit(0)));
  send({ type: 'ready', port: server.port });
}

main().catch((error: unknown) => {
  send({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
