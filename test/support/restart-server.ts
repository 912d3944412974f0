import { startServerProcess, type ServerProcess, type StartOptions } from './server-process.js';

/**
 * What an operator's restart does: stop the server (SIGTERM, fails unless it exits cleanly), then
 * start it again on the same port and data directory, so its URL, issuer and every client's stored
 * server URL stay the same. `options` are the new process's (its environment, for instance).
 */
export async function restartServer(server: ServerProcess, options: Omit<StartOptions, 'dataDir' | 'port'> = {}): Promise<ServerProcess> {
  const code = await server.stop();
  if (code !== 0) throw new Error(`the server did not shut down cleanly (exit ${code}):\n${server.output()}`);
  const restarted = await startServerProcess({ ...options, dataDir: server.dataDir, port: server.port });
  if (restarted.url !== server.url) throw new Error(`restarted at ${restarted.url}, not ${server.url}`);
  return restarted;
}
