/**
 * BENCHMARK ONLY. The floor for the OAuth dance: the same oidc-provider with the same protocol
 * settings as src/authorization/provider.ts (PROTOCOL_SETTINGS, REGISTRATION_FEATURES, the model
 * lifetimes, the scopes and the consent policy are imported from there; one resource indicator
 * `<url>/mcp` with opaque access tokens), but as a plain Koa app (`provider.callback()`) on
 * node:http: no Express, no SQLite (oidc-provider's own in-memory adapter; it warns on stderr that
 * it is for development), no CSRF, rate limits, page headers or access log, a password
 * compared without scrypt (bench/bare-pages.ts), and a /mcp that is only what the dance's first
 * call needs (bench/bare-mcp.ts). What the dance costs here is what oidc-provider's redirect-based
 * flow costs on this machine; what our server spends above it is ours.
 *
 * Started by bench/processes.ts (startBareProvider) with an IPC channel; says {type:'ready', port}.
 * Environment: BARE_USERNAME, BARE_PASSWORD (the one account that can sign in).
 */
import { generateKeyPair, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { promisify } from 'node:util';
import Provider, { type Configuration, type JWK } from 'oidc-provider';
import { consentPolicy } from '../src/authorization/consent-policy.js';
import { modelLifetimes, PROTOCOL_SETTINGS, REGISTRATION_FEATURES } from '../src/authorization/provider.js';
import { advertisedScopes, mcpScopeNames } from '../src/authorization/scopes.js';
import { loadConfig } from '../src/config.js';
import { listen } from '../src/http/listen.js';
import { resourceServer } from './bare-mcp.js';
import { interactionPages, type BenchUser } from './bare-pages.js';

const config = loadConfig({});

function configuration(mcpUrl: string, user: BenchUser, jwks: { keys: JWK[] }): Configuration {
  return {
    // No adapter: oidc-provider's own in-memory one.
    findAccount: async (_ctx, id) => (id === user.accountId ? { accountId: id, claims: async () => ({ sub: id }) } : undefined),
    jwks,
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    ...PROTOCOL_SETTINGS,
    scopes: advertisedScopes,
    features: {
      ...REGISTRATION_FEATURES,
      revocation: { enabled: true },
      userinfo: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => mcpUrl,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({ scope: mcpScopeNames.join(' '), audience: mcpUrl, accessTokenTTL: config.accessTokenTtl, accessTokenFormat: 'opaque' }),
      },
    },
    ttl: modelLifetimes(config),
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: consentPolicy() },
    // A request naming no scope (the dance's) gets the MCP scopes, as our server's `audience` hook does.
    extraParams: {
      audience: (ctx) => {
        if (!ctx.oidc.params!.scope) ctx.oidc.params!.scope = mcpScopeNames.join(' ');
      },
    },
  };
}

async function signingKeys(): Promise<{ keys: JWK[] }> {
  const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' } as JWK] };
}

async function main(): Promise<void> {
  const user: BenchUser = { accountId: 'bench-user', username: process.env.BARE_USERNAME ?? '', password: process.env.BARE_PASSWORD ?? '' };
  if (!user.username || !user.password) throw new Error('BARE_USERNAME and BARE_PASSWORD name the one account that can sign in');
  let handle: http.RequestListener = (_req, res) => res.writeHead(503).end();
  // The issuer names the port, so it is bound first; on both loopback addresses, as our server
  // listens for "localhost", with the same Node server settings.
  const { port } = await listen((req, res) => handle(req, res), ['127.0.0.1', '::1'], 0);
  const publicUrl = `http://localhost:${port}`;
  const mcpUrl = `${publicUrl}/mcp`;

  const provider = new Provider(publicUrl, configuration(mcpUrl, user, await signingKeys()));
  const pages = interactionPages(provider, user);
  const resource = resourceServer(provider, { publicUrl, mcpUrl, scopes: mcpScopeNames });
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
