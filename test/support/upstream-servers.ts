import { freePort } from './free-port.js';
import { startFakeGitHub, type FakeGitHub, type FakeGitHubUser } from './fake-github.js';
import type { StartOptions } from './server-process.js';
import { startUpstreamOidc, type UpstreamOidc, type UpstreamOidcAccount } from './upstream-oidc.js';

/**
 * An upstream started before the server that signs people in through it: the server's port is
 * chosen first, so the upstream knows the callback URL to register (PUBLIC_URL/github/callback,
 * PUBLIC_URL/oidc/callback), and the server is then started with the settings an operator would
 * write for it (the README's).
 */

export const GITHUB_APP = { clientId: 'Ov23liTestClientId01', clientSecret: 'test-github-client-secret-0123456789abcdef' };
export const OIDC_CLIENT = { clientId: 'uuid-mcp-server', clientSecret: 'test-oidc-client-secret-0123456789' };

export interface WithUpstream<T> {
  upstream: T;
  /** The server's URL-to-be (its PUBLIC_URL default, http://localhost:{port}). */
  url: string;
  /** For startServerProcess: the port, and the settings naming the upstream (plus `env`). */
  options: StartOptions & { env: Record<string, string>; port: number };
}

/** More settings for the server, and its port when another upstream already chose it. */
export interface UpstreamExtras {
  env?: Record<string, string>;
  port?: number;
}

export async function withFakeGitHub(users: FakeGitHubUser[], { env = {}, port: given }: UpstreamExtras = {}): Promise<WithUpstream<FakeGitHub>> {
  const port = given ?? (await freePort());
  const url = `http://localhost:${port}`;
  const github = await startFakeGitHub({ ...GITHUB_APP, callbackUrl: `${url}/github/callback`, users });
  return {
    upstream: github,
    url,
    options: {
      port,
      env: {
        GITHUB_CLIENT_ID: GITHUB_APP.clientId,
        GITHUB_CLIENT_SECRET: GITHUB_APP.clientSecret,
        GITHUB_BASE_URL: github.baseUrl,
        GITHUB_API_URL: github.apiUrl,
        ...env,
      },
    },
  };
}

export async function withUpstreamOidc(accounts: UpstreamOidcAccount[], { env = {}, port: given }: UpstreamExtras = {}): Promise<WithUpstream<UpstreamOidc>> {
  const port = given ?? (await freePort());
  const url = `http://localhost:${port}`;
  const oidc = await startUpstreamOidc({ ...OIDC_CLIENT, redirectUris: [`${url}/oidc/callback`], accounts });
  return {
    upstream: oidc,
    url,
    options: {
      port,
      env: {
        OIDC_ISSUER: oidc.issuer,
        OIDC_CLIENT_ID: OIDC_CLIENT.clientId,
        OIDC_CLIENT_SECRET: OIDC_CLIENT.clientSecret,
        ...env,
      },
    },
  };
}

/** Both upstreams for one server (its port chosen once): GitHub's and the OIDC provider's settings together, plus `env`. */
export async function withGitHubAndOidc(users: FakeGitHubUser[], accounts: UpstreamOidcAccount[], { env = {} }: Pick<UpstreamExtras, 'env'> = {}): Promise<{ github: FakeGitHub; oidc: UpstreamOidc; url: string; options: WithUpstream<unknown>['options'] }> {
  const withGitHub = await withFakeGitHub(users);
  const withOidc = await withUpstreamOidc(accounts, { port: withGitHub.options.port });
  return {
    github: withGitHub.upstream,
    oidc: withOidc.upstream,
    url: withGitHub.url,
    options: { port: withGitHub.options.port, env: { ...withGitHub.options.env, ...withOidc.options.env, ...env } },
  };
}
