import { spawn } from 'node:child_process';
import path from 'node:path';
import { atExit } from '../test/support/at-exit.js';
import type { Person } from '../test/support/person-at-browser.js';
import { ROOT, SERVER_CORE } from './processes.js';

/**
 * Starts bench/bare-provider.ts the way bench/processes.ts starts the raw echo: tsx, pinned to
 * SERVER_CORE with taskset, stdout discarded, its port told over IPC. (processes.ts keeps its
 * startChild to itself; exporting it would let this file shrink to the call.)
 */
export interface BareProvider {
  pid: number;
  port: number;
  url: string;
  mcpUrl: string;
  stop(): Promise<void>;
  errors(): string;
}

export function startBareProvider(person: Person, options: { pin?: boolean; env?: Record<string, string> } = {}): Promise<BareProvider> {
  const node = [process.execPath, '--import', 'tsx', path.join(ROOT, 'bench', 'bare-provider.ts')];
  const [command, ...args] = (options.pin ?? true) ? ['taskset', '-c', String(SERVER_CORE), ...node] : node;
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, BARE_USERNAME: person.username, BARE_PASSWORD: person.password, ...options.env };
  const child = spawn(command!, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const forget = atExit('processes', () => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    forget();
    resolve();
  }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bench/bare-provider.ts did not start within 30 s:\n${stderr}`));
    }, 30_000);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`bench/bare-provider.ts exited before it was ready:\n${stderr}`));
    });
    child.on('message', (message: { type?: string; port?: number; message?: string }) => {
      if (message.type === 'failed') reject(new Error(`bench/bare-provider.ts failed to start: ${message.message}`));
      if (message.type !== 'ready' || typeof message.port !== 'number') return;
      clearTimeout(timer);
      const url = `http://localhost:${message.port}`;
      resolve({
        pid: child.pid!,
        port: message.port,
        url,
        mcpUrl: `${url}/mcp`,
        errors: () => stderr,
        async stop() {
          if (child.exitCode === null && child.signalCode === null && child.connected) child.send({ type: 'stop' });
          const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(kill);
        },
      });
    });
  });
}
