import { SERVER_INFO } from './mcp.js';
import { loadConfig, type Config } from './src/config.js';
import { ConfigError, StartupError } from './src/errors.js';
import { batchedSink, createLogger } from './src/log.js';
import { startServer, type RunningServer } from './src/server.js';

/**
 * Entry point: configuration → storage → app → listen, then wait for SIGINT/SIGTERM and shut down
 * gracefully. A bad setting or an unusable data directory or port stops start-up with one line.
 */
const sink = batchedSink();
const log = createLogger(sink);

function fail(message: string, exitCode: number): never {
  sink.flush();
  process.stderr.write(`${message}\n`);
  process.exit(exitCode);
}

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) fail(`Configuration error: ${error.message}`, 2);
  throw error;
}

let server: RunningServer;
try {
  server = await startServer(config, log, sink);
} catch (error) {
  if (error instanceof StartupError || error instanceof ConfigError) fail(`Cannot start: ${error.message}`, 1);
  fail(`Cannot start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, 1);
}

sink.flush();
const banner = [`${SERVER_INFO.name} is running at ${config.mcpUrl}`];
if (server.generatedAdminPassword) {
  banner.push(
    '',
    'First start: created the administrator account. This password is shown only once:',
    '  username: admin',
    `  password: ${server.generatedAdminPassword}`,
    'Change it with: npm run user -- passwd admin',
  );
}
process.stdout.write(`${banner.join('\n')}\n\n`);

let signals = 0;
const shutdown = (signal: NodeJS.Signals) => {
  signals += 1;
  if (signals > 1) fail(`${signal} again: exiting without waiting`, 1);
  log.info('server.stopping', { signal });
  server.stop().then(
    () => {
      log.info('server.stopped');
      sink.flush();
      process.exit(0);
    },
    (error: unknown) => fail(`Shutdown failed: ${error instanceof Error ? error.message : String(error)}`, 1),
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
