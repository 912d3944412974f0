import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import { createMcpServer, type ToolContext } from '../mcp.js';
import { homePage } from '../views/home.js';
import { Accounts } from './authorization/accounts.js';
import { ConsentMemory } from './authorization/consent.js';
import { CsrfTokens } from './authorization/csrf.js';
import { interactionRoutes } from './authorization/interactions.js';
import { loadServerKeys } from './authorization/keys.js';
import { tokenEndpointBodies } from './authorization/json-form-bodies.js';
import { AS_ROUTES, createProvider, isAuthorizationServerPath } from './authorization/provider.js';
import { registrationEndpoint } from './authorization/registration.js';
import { advertisedScopes } from './authorization/scopes.js';
import { SignInBackoff } from './authorization/sign-in-backoff.js';
import { GitHub } from './authorization/upstream/github.js';
import { UpstreamIdentities } from './authorization/upstream/identities.js';
import { OidcUpstream } from './authorization/upstream/oidc.js';
import { CALLBACK_PATHS, UpstreamSignIn } from './authorization/upstream/routes.js';
import { UpstreamStates } from './authorization/upstream/states.js';
import { loadTokenKey, TokenCipher } from './authorization/upstream/token-cipher.js';
import { mcpResources, type Config } from './config.js';
import { JsonRpcCode, StartupError } from './errors.js';
import { accessLog } from './http/access-log.js';
import { cors } from './http/cors.js';
import { errorHandler, sendError } from './http/error-response.js';
import { handlerChain } from './http/handler-chain.js';
import { loopbackHostCheck } from './http/host-check.js';
import { originCheck } from './http/origin-check.js';
import { setPageHeaders } from './http/page-headers.js';
import { perAddressLimit } from './http/rate-limit.js';
import { requireHttps } from './http/require-https.js';
import { shutdownGate } from './http/shutdown-gate.js';
import type { LineSink, Logger } from './log.js';
import { PUBLIC_DIR } from './paths.js';
import { bearerGuard } from './resource/bearer.js';
import { addConformanceFixtures } from './resource/conformance-fixtures.js';
import { LEGACY_SSE_PATHS, legacySseEndpoint } from './resource/legacy-sse-endpoint.js';
import { mcpEndpoint } from './resource/mcp-endpoint.js';
import { resourceMetadataRoutes, resourceMetadataUrl } from './resource/metadata.js';
import { SessionRegistry } from './resource/sessions.js';
import { userProfiles } from './resource/user-profile.js';
import type { Store } from './storage/store.js';

export interface AppDeps {
  config: Config;
  store: Store;
  log: Logger;
  /** Where the access log goes. */
  accessLogSink: LineSink;
  /**
   * BENCHMARK ONLY (bench/server-under-test.ts; no setting reaches it): every /mcp and /sse request
   * is this caller, with no bearer check, so `npm run bench` can show what the check itself costs.
   */
  benchOnlyFixedCaller?: AuthInfo;
}

export interface App {
  app: Express;
  accounts: Accounts;
  /** The first administrator, created on a first start (with the password to show once if it was generated). */
  firstAdmin: Awaited<ReturnType<Accounts['ensureFirstAdmin']>>;
  /** Refuses every request from now on (503, Connection: close): the first step of stopping. */
  refuseNewRequests(): void;
  signInBackoff: SignInBackoff;
  /** Ends MCP sessions (and their open streams); the store is the caller's to close. */
  close(): Promise<void>;
}

const MCP_BODY_LIMIT = 1024 * 1024;
/** Registration and token requests are small; oidc-provider's own cap is 56 KiB. */
const AUTHORIZATION_BODY_LIMIT = 32 * 1024;

/**
 * The answer past a per-address limit on an OAuth endpoint: 429 (RFC 6585) with Retry-After, and
 * `temporarily_unavailable`. RFC 6749 defines no token-endpoint error for this; its "try later" code
 * (§4.1.2.1) blames neither the request, the client nor the grant, so no client drops its
 * registration (`invalid_client`) or its refresh token (`invalid_grant`) over a busy minute.
 */
function tooManyRequests(log: Logger, event: string, what: string) {
  return (req: Request, res: Response, retryAfter: number) => {
    log.warn(event, { ip: req.ip, path: req.path });
    sendError(req, res, { status: 429, oauth: 'temporarily_unavailable', jsonRpc: JsonRpcCode.ServerError, message: `${what}; try again in ${retryAfter} s` });
  };
}

/** The key for upstream tokens at rest; a key file that cannot be read or written stops start-up. */
function upstreamTokenKey(config: Config): Buffer {
  try {
    return loadTokenKey(config.upstreamTokenKey, config.dataDir, config.github !== undefined || config.oidc !== undefined);
  } catch (error) {
    throw new StartupError(`DATA_DIR ${config.dataDir}: the upstream token key cannot be used: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** Express assembly: every middleware, in the order a request meets it, in one place. */
export async function createApp({ config, store, log, accessLogSink, benchOnlyFixedCaller }: AppDeps): Promise<App> {
  const accounts = new Accounts(store, config.passwordHashCost);
  // A first start hashes the admin password and generates the signing key: both on libuv's thread
  // pool, so they run at the same time rather than one after the other.
  // Without local accounts a password could never be used: no admin account is made for one.
  const [firstAdmin, keys] = await Promise.all([
    config.localAccounts ? accounts.ensureFirstAdmin(config.adminPassword) : { created: false },
    loadServerKeys(store.secrets),
  ]);
  const consent = new ConsentMemory(store.consents, mcpResources(config), config.grantTtl * 1000);
  const signInBackoff = new SignInBackoff(store.signInFailures, { freeFailures: config.loginFailuresBeforeBackoff, maxWaitMs: config.loginBackoffMax * 1000 });
  const provider = createProvider({ config, store, accounts, consent, keys, log });
  const authorizationServer = provider.callback();
  const sessions = config.stateless ? undefined : new SessionRegistry({
    idleTtlMs: config.mcpSessionIdleTtl * 1000,
    perCaller: config.mcpMaxSessionsPerUser,
    total: config.mcpMaxSessions,
  }, log);
  const github = config.github && new GitHub(config.github, `${config.publicUrl}${CALLBACK_PATHS.github}`);
  const oidc = config.oidc && new OidcUpstream(config.oidc, `${config.publicUrl}${CALLBACK_PATHS.oidc}`);
  oidc?.discoverEarly().catch((error: unknown) => log.warn('upstream.discovery_failed', { provider: 'oidc', issuer: config.oidc?.issuer, reason: error instanceof Error ? error.message : String(error) }));
  const identities = new UpstreamIdentities(store, new TokenCipher(upstreamTokenKey(config)));
  const upstream = new UpstreamSignIn({
    config,
    provider,
    github,
    oidc,
    states: new UpstreamStates(store.upstreamStates, config.publicUrl.startsWith('https:')),
    identities,
    log,
  });
  const tools: ToolContext = { userProfile: userProfiles({ accounts, identities, github, log }) };
  if (config.testOnlyConformanceFixtures) log.warn('mcp.test_only_conformance_fixtures_enabled');

  const mcpCors = cors({
    methods: ['GET', 'POST', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type', 'Accept', 'MCP-Protocol-Version', 'Mcp-Session-Id', 'Last-Event-ID', 'Mcp-Method', 'Mcp-Name'],
    exposeHeaders: ['Mcp-Session-Id', 'MCP-Protocol-Version', 'WWW-Authenticate'],
  });
  const browserOrigins = originCheck(config);
  // /mcp and /sse are two doors of one server: the same tools (the conformance fixtures too, when a
  // test turns them on), the same tokens; each door's 401 points at its own metadata.
  const createServer = () => {
    const server = createMcpServer(tools);
    if (config.testOnlyConformanceFixtures) addConformanceFixtures(server);
    return server;
  };
  const guardFor = (resource: string): RequestHandler[] => [browserOrigins, benchOnlyFixedCaller
    ? (req, _res, next) => { req.auth = benchOnlyFixedCaller; next(); }
    : bearerGuard(store.models, { audiences: mcpResources(config), resourceMetadataUrl: resourceMetadataUrl(config, resource) })];
  const mcp = mcpEndpoint({ guards: guardFor(config.mcpUrl), createServer, sessions, log, maxBodyBytes: MCP_BODY_LIMIT });

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);

  // 1. Every request: access log, baseline headers, and (on loopback) DNS-rebinding protection.
  if (config.accessLog) app.use(accessLog(accessLogSink));
  const gate = shutdownGate();
  app.use(gate.middleware);
  app.use((_req, res, next) => {
    res.set({ 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer' });
    next();
  });
  if (config.loopbackOnly) app.use(loopbackHostCheck());

  // 2. Operations and static pages.
  app.get('/healthz', async (_req, res) => {
    try {
      await store.ping();
      res.set('Cache-Control', 'no-store').json({ status: 'ok' });
    } catch (error) {
      log.error('health.store_unavailable', { error });
      res.status(503).set('Cache-Control', 'no-store').json({ status: 'unavailable' });
    }
  });
  if (config.publicUrl.startsWith('https:')) app.use(requireHttps(log));
  // Every MCP call is a `POST /mcp`: it goes straight to what section 3 runs for it (CORS, the Origin
  // check, the bearer guard, the body, the transport), in that order, without the router's layers
  // between here and there (none of which matches /mcp). Any other /mcp request takes the routes below.
  const mcpPost = handlerChain([mcpCors, ...mcp.postChain]);
  app.use((req, res, next) => {
    if (req.method === 'POST' && req.url === '/mcp') mcpPost(req, res, next);
    else next();
  });
  app.use('/static', express.static(PUBLIC_DIR, { index: false, maxAge: '1h', fallthrough: true }));
  app.get('/', (_req, res) => {
    setPageHeaders(res);
    res.set('Cache-Control', 'no-cache').send(homePage(config.mcpUrl));
  });

  // 3. Resource server: metadata, then /mcp (and the legacy /sse) with CORS, the Origin check and the bearer guard before any routing.
  app.use(resourceMetadataRoutes(config));
  app.use('/mcp', mcpCors);
  app.use(mcp);
  // The legacy HTTP+SSE transport (/sse, /messages) the same way.
  if (sessions && config.legacySseUrl) {
    const legacyCors = (method: string) => cors({ methods: [method], allowHeaders: ['Authorization', 'Content-Type', 'Accept', 'MCP-Protocol-Version'], exposeHeaders: ['WWW-Authenticate'] });
    app.use(LEGACY_SSE_PATHS.stream, legacyCors('GET'));
    app.use(LEGACY_SSE_PATHS.messages, legacyCors('POST'));
    app.use(legacySseEndpoint({ guards: guardFor(config.legacySseUrl), createServer, sessions, log, maxBodyBytes: MCP_BODY_LIMIT }));
  }

  // 4. Authorization server: our sign-in and consent pages, registration (normalized and rate-limited), then oidc-provider.
  app.use(interactionRoutes({ provider, accounts, consent, csrf: new CsrfTokens(keys.csrfKey), log, loginRateLimit: config.loginRateLimit, signInBackoff, upstream, localAccounts: config.localAccounts }));
  app.use(upstream.router());
  app.use('/register', cors({ methods: ['GET', 'POST', 'PUT', 'DELETE'], allowHeaders: ['Authorization', 'Content-Type'] }));
  const registration = registrationEndpoint(authorizationServer, { maxBytes: AUTHORIZATION_BODY_LIMIT, knownScopes: advertisedScopes });
  app.put('/register/:clientId', ...registration);
  app.post(
    '/register',
    browserOrigins,
    perAddressLimit({
      windowMs: 60 * 60_000,
      limit: config.registrationRateLimit,
      // A cap on clients registered, i.e. rows stored: a refused body stores nothing and is
      // already bounded by the body limit, and a client fixing its metadata should not lose its turn.
      counts: (_req, res) => res.statusCode === 201,
      reject: tooManyRequests(log, 'registration.rate_limited', 'Too many client registrations from this address'),
    }),
    ...registration,
  );
  // One budget per address for the three token-family endpoints; generous, since a client's
  // parallel sessions each refresh (Claude Code), and many users may share one address.
  const tokenLimit = perAddressLimit({
    windowMs: 60_000,
    limit: config.tokenRateLimit,
    reject: tooManyRequests(log, 'token.rate_limited', 'Too many token requests from this address'),
  });
  for (const path of [AS_ROUTES.token, AS_ROUTES.revocation, AS_ROUTES.introspection]) {
    app.post(path, tokenLimit, ...tokenEndpointBodies(authorizationServer, AUTHORIZATION_BODY_LIMIT));
  }
  app.use((req, res, next) => {
    if (isAuthorizationServerPath(req.path)) void authorizationServer(req, res);
    else next();
  });

  // 5. Nothing matched; and the one place errors become responses.
  app.use((req, res) => {
    sendError(req, res, { status: 404, oauth: 'invalid_request', jsonRpc: JsonRpcCode.ServerError, message: `No such endpoint: ${req.method} ${req.path}` });
  });
  app.use(errorHandler(log));

  return {
    app,
    accounts,
    firstAdmin,
    refuseNewRequests: gate.shut,
    signInBackoff,
    close: async () => {
      await sessions?.closeAll();
    },
  };
}
