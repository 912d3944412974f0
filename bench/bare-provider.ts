/**
 * BENCHMARK ONLY. The floor for the OAuth dance: the same oidc-provider, configured for the same
 * protocol as src/authorization/provider.ts (dynamic registration with registration management,
 * public clients with `none`, PKCE S256 for everyone, one resource indicator `<url>/mcp` with opaque
 * access tokens, refresh tokens with rotation, loopback clients asked for consent every time), but
 * as a plain Koa app (`provider.callback()`) on node:http: no Express, no SQLite (a Map,
 * bench/bare-memory-adapter.ts), no CSRF, rate limits, page headers or access log, a password
 * compared without scrypt (bench/bare-pages.ts), and a /mcp that is only what the dance's first
 * call needs (bench/bare-mcp.ts). What the dance costs here is what oidc-provider's redirect-based
 * flow costs on this machine; what our server spends above it is ours.
 *
 * Started by bench/processes.ts (startBareProvider) with an IPC channel; says {type:'ready', port}.
 * Environment: BARE_USERNAME, BARE_PASSWORD (the one account that can sign in).
 */
import { generateKeyPair, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import Provider, { interactionPolicy, type Configuration, type JWK, type KoaContextWithOIDC } from 'oidc-provider';
import { AS_ROUTES } from '../src/authorization/provider.js';
import { resourceServer } from './bare-mcp.js';
import { memoryAdapter } from './bare-memory-adapter.js';
import { interactionPages, type BenchUser } from './bare-pages.js';

const MCP_SCOPES = ['uuid:generate', 'profile:read'];
// Our server's defaults (src/config.ts), so tokens and grants are the same size and lifetime.
const TTL = { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, RefreshToken: 14 * 86400, Grant: 90 * 86400, Session: 86400, Interaction: 3600 };

/** oidc-provider's native-client consent check widened to any client with a loopback redirect, as consent-policy.ts does. */
function alwaysAskLoopbackClients(): interactionPolicy.DefaultPolicy {
  const policy = interactionPolicy.base();
  const consent = policy.get('consent')!;
  consent.checks.remove('native_client_prompt');
  consent.checks.add(new interactionPolicy.Check('local_client_prompt', 'loopback clients approve each authorization', 'interaction_required', (ctx: KoaContextWithOIDC) => {
    const { client, result } = ctx.oidc;
    if (result?.consent || !client) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    const local = client.redirectUris?.some((uri) => /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(uri));
    return local ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
  }));
  return policy;
}

function configuration(mcpUrl: string, user: BenchUser, jwks: { keys: JWK[] }): Configuration {
  return {
    adapter: memoryAdapter(),
    findAccount: async (_ctx, id) => (id === user.accountId ? { accountId: id, claims: async () => ({ sub: id }) } : undefined),
    jwks,
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    routes: AS_ROUTES,
    scopes: ['openid', 'offline_access', ...MCP_SCOPES],
    responseTypes: ['code'],
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true, initialAccessToken: false },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: false },
      revocation: { enabled: true },
      userinfo: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => mcpUrl,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({ scope: MCP_SCOPES.join(' '), audience: mcpUrl, accessTokenTTL: TTL.AccessToken, accessTokenFormat: 'opaque' }),
      },
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    expiresWithSession: async () => false,
    ttl: TTL,
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: alwaysAskLoopbackClients() },
    // A request naming no scope (the dance's) gets the MCP scopes, as our server's `audience` hook does.
    extraParams: {
      audience: (ctx) => {
        if (!ctx.oidc.params!.scope) ctx.oidc.params!.scope = MCP_SCOPES.join(' ');
      },
    },
  };
}

async function signingKeys(): Promise<{ keys: JWK[] }> {
  const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' } as JWK] };
}

function listenOn(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function main(): Promise<void> {
  const user: BenchUser = { accountId: 'bench-user', username: process.env.BARE_USERNAME ?? '', password: process.env.BARE_PASSWORD ?? '' };
  if (!user.username || !user.password) throw new Error('BARE_USERNAME and BARE_PASSWORD name the one account that can sign in');
  let handle: http.RequestListener = (_req, res) => res.writeHead(503).end();
  const servers = [http.createServer((req, res) => handle(req, res)), http.createServer((req, res) => handle(req, res))];
  // The issuer names the port, so the port comes first; then ::1 as well, as our server listens
  // on both loopback addresses for "localhost" (src/http/listen.ts).
  const port = await listenOn(servers[0]!, 0, '127.0.0.1');
  await listenOn(servers[1]!, port, '::1').catch(() => servers.pop());
  const publicUrl = `http://localhost:${port}`;
  const mcpUrl = `${publicUrl}/mcp`;

  const provider = new Provider(publicUrl, configuration(mcpUrl, user, await signingKeys()));
  const pages = interactionPages(provider, user);
  const resource = resourceServer(provider, { publicUrl, mcpUrl, scopes: MCP_SCOPES });
  const oidc = provider.callback();
  handle = (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    void (async () => {
      if (await resource(req, res, path)) return;
      if (await pages(req, res, path)) return;
      oidc(req, res);
    })().catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  };
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'stop') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', port });
}

main().catch((error: unknown) => {
  process.send?.({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
