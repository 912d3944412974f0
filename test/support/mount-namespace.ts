import { spawnSync } from 'node:child_process';

export interface ScriptResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a shell script in a private mount namespace (`unshare --mount`): the tmpfs mounts it makes
 * (read-only, tiny and full) are seen by it and the programs it starts only, and vanish with it,
 * so nothing is left mounted on the machine even if the test is killed. As root (CI) that is all it
 * needs; as another user, a user namespace maps that user to root inside (`--user
 * --map-root-user`). Where neither works this throws, saying why: a fault test is never skipped.
 */
export function runInMountNamespace(script: string, env: Record<string, string>, timeoutMs = 30_000): ScriptResult {
  const asRoot = process.getuid?.() === 0;
  const args = [...(asRoot ? [] : ['--user', '--map-root-user']), '--mount', '--propagation', 'private', 'sh', '-euc', script];
  const result = spawnSync('unshare', args, { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: timeoutMs });
  if (result.error) throw new Error(`cannot run unshare (util-linux) for a private mount namespace: ${result.error.message}`);
  if (/^unshare: /m.test(result.stderr)) {
    throw new Error(`cannot make a private mount namespace (${asRoot ? 'as root' : 'as a user, with --user --map-root-user'}): ${result.stderr.trim()}; these fault tests need root or unprivileged user namespaces`);
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
