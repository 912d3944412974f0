import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { authorizationErrorPage } from '../../views/authorization-error.js';
import { SafeHtml } from '../../views/html.js';
import { signedOutPage, signOutPage } from '../../views/signed-out.js';
import { mcpResources, type Config } from '../config.js';
import { pageHeaders } from '../http/page-headers.js';
import type { Logger } from '../log.js';
import { providerAdapter } from '../storage/provider-adapter.js';
import type { Store } from '../storage/store.js';
import type { Accounts } from './accounts.js';
import { clientMetadataDocuments, documentProblem } from './client-metadata-documents.js';
import type { ConsentMemory } from './consent.js';
import { consentPolicy } from './consent-policy.js';
import { reactToProviderEvents } from './provider-events.js';
import type { ServerKeys } from './keys.js';
import { advertisedScopes, mcpScopeNames } from './scopes.js';

export interface AuthorizationServerDeps {
  config: Config;
  store: Store;
  accounts: Accounts;
  consent: ConsentMemory;
  keys: ServerKeys;
  log: Logger;
}

/** Paths served by oidc-provider; the seed's `/auth`, `/token`, `/register` among them. */
export const AS_ROUTES = {
  authorization: '/auth',
  token: '/token',
  registration: '/register',
  revocation: '/revoke',
  introspection: '/introspect',
  jwks: '/jwks',
  end_session: '/session/end',
} as const;

const DISCOVERY_PATHS = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'];

/** Whether a request path belongs to the authorization server (the rest of the app never reaches it). */
export function isAuthorizationServerPath(path: string): boolean {
  if (DISCOVERY_PATHS.includes(path)) return true;
  return Object.values(AS_ROUTES).some((route) => path === route || path.startsWith(`${route}/`));
}

/**
 * What clients see of the protocol: the endpoints, the one response type, client authentication,
 * PKCE, dynamic registration and refresh tokens. Shared with the benchmark's floor
 * (bench/bare-provider.ts), so that both speak exactly the same protocol.
 */
export const PROTOCOL_SETTINGS = {
  routes: AS_ROUTES,
  responseTypes: ['code'],
  clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
  pkce: { required: () => true },
  // Gemini CLI, mcp-remote and SDK v1 clients never ask for offline_access; any client registered
  // for the refresh_token grant gets one.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  // Tokens outlive the browser sign-in session; the grant's own lifetime caps them.
  expiresWithSession: async () => false,
} satisfies Configuration;

/** Open dynamic registration (RFC 7591) with its management (RFC 7592); no development pages. */
export const REGISTRATION_FEATURES = {
  devInteractions: { enabled: false },
  registration: { enabled: true, initialAccessToken: false },
  registrationManagement: { enabled: true, rotateRegistrationAccessToken: false },
} satisfies Configuration['features'];

/** How long each model lives, from the server's settings. */
export function modelLifetimes(config: Pick<Config, 'accessTokenTtl' | 'refreshTokenTtl' | 'grantTtl' | 'loginSessionTtl'>): Configuration['ttl'] {
  return {
    AccessToken: config.accessTokenTtl,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: config.refreshTokenTtl,
    Grant: config.grantTtl,
    Session: config.loginSessionTtl,
    Interaction: 3600,
  };
}

/**
 * The OAuth 2.1 authorization server: oidc-provider, configured for what MCP clients need (see
 * ../shared notes): loopback redirects on any port, refresh tokens without `offline_access`,
 * rotation with a reuse grace window, opaque access tokens bound to the MCP resource, S256 PKCE
 * for everyone, `iss` on every authorization response.
 */
export function createProvider(deps: AuthorizationServerDeps): Provider {
  const { config, store, accounts, consent, keys, log } = deps;
  const secureCookies = config.publicUrl.startsWith('https:');
  const documents = clientMetadataDocuments(config, log, advertisedScopes);
  const resources = mcpResources(config);

  const configuration: Configuration = {
    adapter: providerAdapter(store.models, { consumedGraceMs: { RefreshToken: config.refreshReuseGrace * 1000 } }),
    findAccount: accounts.findAccount,
    jwks: keys.jwks,
    cookies: {
      keys: keys.cookieKeys,
      // Over https the names carry the browser-enforced prefixes: a cookie so named is accepted only
      // if Secure and set by this host over https, so a sibling subdomain or a plain-http page cannot
      // plant one. The session cookie (Path=/) is __Host-; the interaction cookies stay bound to their
      // own interaction's path (two sign-ins in one browser keep apart), which __Host- forbids, so they
      // are __Secure-. Over plain-http loopback no prefix is possible (it needs Secure).
      ...(secureCookies ? { names: { session: '__Host-session', interaction: '__Secure-interaction', resume: '__Secure-interaction_resume' } } : {}),
      long: { httpOnly: true, sameSite: 'lax', secure: secureCookies, signed: true },
      short: { httpOnly: true, sameSite: 'lax', secure: secureCookies, signed: true },
    },
    ...PROTOCOL_SETTINGS,
    // MCP scopes are listed with the OpenID ones: clients register and request them by name, and
    // Gemini CLI requests exactly this list (scopes_supported) since it ignores the PRM's.
    scopes: advertisedScopes,
    claims: { openid: ['sub', 'name', 'preferred_username'] },
    features: {
      ...REGISTRATION_FEATURES,
      // A client_id that is an https URL names the client's metadata document (client-metadata-documents.ts).
      clientIdMetadataDocument: documents.feature,
      revocation: { enabled: true, allowedPolicy: ownTokensOnly },
      introspection: { enabled: true, allowedPolicy: async (ctx, _client, token) => token.clientId === ctx.oidc.client?.clientId },
      // Signing out (GET /session/end), and switching accounts mid-authorization, which ends the
      // previous browser session through the same endpoint.
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          const accountId = ctx.oidc.session?.accountId;
          const user = accountId ? await accounts.findById(accountId) : undefined;
          ctx.set(pageHeaders());
          ctx.body = signOutPage(new SafeHtml(form), user?.username);
        },
        // Reached after "Sign out" and after "Stay signed in" alike; the session cookie tells which.
        postLogoutSuccessSource: async (ctx) => {
          const session = await ctx.oidc.provider.Session.get(ctx);
          ctx.set(pageHeaders());
          ctx.body = signedOutPage(Boolean(session.accountId));
        },
      },
      // Every access token is bound to the MCP endpoints (/mcp, /sse), so none could ever be used at a userinfo endpoint.
      userinfo: { enabled: false },
      // Not used by MCP clients; off so every advertised endpoint is one we serve and test.
      pushedAuthorizationRequests: { enabled: false },
      // A DPoP-bound token could not be presented to /mcp, which takes Bearer tokens only.
      dPoP: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // Clients that send no `resource` still get a token for /mcp, the main resource here; the
        // bearer guard accepts it at /sse as well (resource/bearer.ts).
        defaultResource: async () => config.mcpUrl,
        useGrantedResource: async () => true,
        // /mcp, and /sse when the legacy transport is on (clients configured with …/sse ask for it,
        // as its metadata says). Each token's audience is the one resource it was asked for.
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          if (!resources.includes(resourceIndicator)) {
            throw new errors.InvalidTarget(`unknown resource; this server issues tokens only for ${resources.join(' and ')}`);
          }
          return {
            scope: mcpScopeNames.join(' '),
            audience: resourceIndicator,
            accessTokenTTL: config.accessTokenTtl,
            accessTokenFormat: 'opaque',
          };
        },
      },
    },
    fetch: documents.fetch,
    fetchResponseBodyLimits: documents.fetchResponseBodyLimits,
    sectorIdentifierUriValidate: documents.sectorIdentifierUriValidate,
    ttl: modelLifetimes(config),
    loadExistingGrant: consent.loadExistingGrant,
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: consentPolicy() },
    extraParams: {
      // oidc-provider runs extraParams validators on every authorization request, present or not:
      // its documented place for defaults. Gemini CLI may send `audience`; we accept and ignore it,
      // and give a request that names no scope at all the MCP scopes, within the client's
      // registered scope if it has one (this runs after the provider's own scope check).
      audience: (ctx, _value, client) => {
        if (ctx.oidc.params!.scope) return;
        const ceiling = client.scope?.split(' ');
        const scopes = ceiling ? mcpScopeNames.filter((scope) => ceiling.includes(scope)) : mcpScopeNames;
        if (scopes.length > 0) ctx.oidc.params!.scope = scopes.join(' ');
      },
    },
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) ?? false,
    renderError: async (ctx, out, error) => {
      ctx.set(pageHeaders());
      ctx.body = authorizationErrorPage(out, documentProblem(error));
    },
  };

  const provider = new Provider(config.publicUrl, configuration);
  // Behind the TLS proxy Express has already checked the request came through it (require-https.ts);
  // Koa then only needs to believe its X-Forwarded-Proto. Its ctx.ip is set from Express's below.
  provider.proxy = config.publicUrl.startsWith('https:');
  provider.maxIpsCount = 1;

  // No page of the authorization server may be framed, including the auto-submitting forms
  // oidc-provider writes itself (account switching, sign-out). Our own pages set a full CSP.
  // And a path under one of its routes that it does not serve (e.g. /token/x) gets Koa's
  // plain-text 404: answer in OAuth's format like every other error here.
  provider.use(async (ctx, next) => {
    // Koa's own ctx.ip would be X-Forwarded-For's last entry whoever sent it; Express's req.ip (this
    // is the same request object) follows TRUST_PROXY, hop by hop. Logs and per-address limits
    // (document fetches) count the address Express sees.
    const expressIp = (ctx.req as { ip?: unknown }).ip;
    if (typeof expressIp === 'string') ctx.request.ip = expressIp;
    ctx.set({ 'X-Frame-Options': 'DENY', 'Content-Security-Policy': "frame-ancestors 'none'" });
    await next();
    if (ctx.status === 404 && ctx.body === undefined) {
      ctx.status = 404; // explicitly, or setting the body would turn it into a 200
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_request', error_description: `No such endpoint: ${ctx.method} ${ctx.path}` };
    }
  });

  reactToProviderEvents(provider, store, log);

  return provider;
}

/** RFC 7009: a client may revoke only its own tokens; a public client's attempt on another's is silently ignored. */
async function ownTokensOnly(_ctx: KoaContextWithOIDC, client: { clientId: string; clientAuthMethod?: string }, token: { clientId?: string }): Promise<boolean> {
  if (token.clientId === client.clientId) return true;
  if (client.clientAuthMethod === 'none') return false;
  throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
}
