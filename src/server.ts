import { createApp, type AppDeps } from './app.js';
import type { Config } from './config.js';
import { startHousekeeping } from './housekeeping.js';
import { listen } from './http/listen.js';
import type { LineSink, Logger } from './log.js';
import { openStore } from './storage/open-store.js';

export interface RunningServer {
  port: number;
  /** Set only on the first start, when the admin password was generated: to be shown once. */
  generatedAdminPassword: string | undefined;
  /**
   * Graceful stop: the listening socket closes (new connections are refused), a request arriving on
   * a kept-alive connection gets 503 + Connection: close, requests under way finish with their
   * normal answers (up to graceMs, default 10 s; then their connections are cut), MCP sessions and
   * their streams end, the store closes. Resolves within about graceMs.
   */
  stop(graceMs?: number): Promise<void>;
}

/** config → storage → app → listen. The process-level parts (signals, exit codes) are index.ts's. */
export async function startServer(config: Config, log: Logger, accessLogSink: LineSink, bench: Pick<AppDeps, 'benchOnlyFixedCaller'> = {}): Promise<RunningServer> {
  const store = openStore(config, log);
  let housekeeping: { stop(): void } | undefined;
  try {
    const app = await createApp({ config, store, log, accessLogSink, ...bench });
    const admin = app.firstAdmin;
    if (admin.created) log.info('accounts.admin_created', { user: 'admin', password: admin.generatedPassword ? 'generated' : 'ADMIN_PASSWORD' });

    housekeeping = await startHousekeeping({ store, signInBackoff: app.signInBackoff, log, unusedRegistrationTtlMs: config.unusedRegistrationTtl * 1000 });

    const listening = await listen(app.app, config.bindHosts, config.port);
    let stopping: Promise<void> | undefined;
    return {
      port: listening.port,
      generatedAdminPassword: admin.generatedPassword,
      stop(graceMs = 10_000) {
        stopping ??= (async () => {
          housekeeping?.stop();
          app.refuseNewRequests();
          const closed = listening.close(graceMs);
          await app.close();
          await closed;
          await store.close();
        })();
        return stopping;
      },
    };
  } catch (error) {
    housekeeping?.stop();
    await store.close();
    throw error;
  }
}
