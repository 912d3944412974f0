import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { addressKind } from './http/address-kind.js';
import { isLoopbackHostname } from './loopback.js';

/**
 * Every setting the server reads, validated in one place. Each comes from an environment variable
 * (listed in `.env.example`); a bad value stops start-up with one line naming the variable.
 */
export interface Config {
  port: number;
  /** Addresses to listen on; "loopback" means both 127.0.0.1 and ::1. */
  bindHosts: string[];
  /** Public origin of this server, no trailing slash. It is the OAuth issuer. */
  publicUrl: string;
  /** The MCP endpoint URL: the RFC 8707 resource that access tokens are bound to. */
  mcpUrl: string;
  /** True when publicUrl names this machine (localhost, 127.0.0.1, ::1). */
  loopbackOnly: boolean;
  dataDir: string;
  /** Seconds a write waits for another process holding the database's write lock before a 503. */
  storageBusyTimeout: number;
  adminPassword: string | undefined;
  /** scrypt cost as log2(N) for new password hashes. */
  passwordHashCost: number;
  accessTokenTtl: number;
  refreshTokenTtl: number;
  grantTtl: number;
  refreshReuseGrace: number;
  loginSessionTtl: number;
  mcpSessionIdleTtl: number;
  mcpMaxSessions: number;
  mcpMaxSessionsPerUser: number;
  stateless: boolean;
  /** Clients registered (successful registrations) per address per hour. */
  registrationRateLimit: number;
  loginRateLimit: number;
  /** Wrong passwords for one username (from any address) before each further one makes it wait. */
  loginFailuresBeforeBackoff: number;
  /** The longest that wait grows to, seconds. */
  loginBackoffMax: number;
  /** Requests to /token, /revoke and /introspect per address per minute. */
  tokenRateLimit: number;
  /** Dynamically registered clients for which no grant was ever saved are deleted this long after registering, seconds. */
  unusedRegistrationTtl: number;
  /**
   * Which reverse proxies' X-Forwarded-For/-Proto are believed, in Express's `trust proxy` terms:
   * 0 for none, a number of hops, or a comma-separated list of addresses, subnets and the names
   * loopback, linklocal, uniquelocal.
   */
  trustProxy: number | string;
  allowedOrigins: string[];
  accessLog: boolean;
  /** TEST ONLY: adds the MCP conformance suite's fixture tools, resources and prompts to /mcp. */
  testOnlyConformanceFixtures: boolean;
  /** Clients may use an https URL of their metadata document as client_id (CIMD). */
  clientIdMetadataDocuments: boolean;
  /** Metadata document fetches (documents not in the cache) per client address per minute. */
  cimdFetchRateLimit: number;
  /** TEST ONLY: metadata documents may be fetched from loopback addresses (only when publicUrl and bindHosts are loopback). */
  testOnlyCimdAllowLoopback: boolean;
  /**
   * The 2024-11-05 HTTP+SSE endpoint (`GET /sse`, `POST /messages`), a second RFC 8707 resource next
   * to mcpUrl; undefined when LEGACY_SSE is off (and always in stateless mode).
   */
  legacySseUrl: string | undefined;
  /** Sign-in with GitHub (an OAuth app), when GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET are set. */
  github: GitHubSettings | undefined;
  /** Sign-in with an OpenID Connect provider, when OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are set. */
  oidc: OidcSettings | undefined;
  /** Username/password accounts; false only with an upstream configured. */
  localAccounts: boolean;
  /** AES-256-GCM key for upstream tokens at rest; undefined: a key file in DATA_DIR (upstream/token-key.ts). */
  upstreamTokenKey: Buffer | undefined;
}

export interface GitHubSettings {
  clientId: string;
  clientSecret: string;
  /** Where people sign in (authorize, access_token), no trailing slash. */
  baseUrl: string;
  /** The REST API (/user, /user/orgs), no trailing slash. */
  apiUrl: string;
  /** Lower-case logins allowed to sign in; empty: anyone (subject to allowedOrgs). */
  allowedUsers: string[];
  /** Lower-case organisation logins; a member of any may sign in. */
  allowedOrgs: string[];
}

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string;
  /** Shown on the button: "Sign in with {name}". */
  name: string;
  /** Lower-case e-mail domains allowed (with email_verified=true); empty: any. */
  allowedEmailDomains: string[];
  requiredClaim: { name: string; value: string } | undefined;
}

const DURATION = /^(\d+)\s*(ms|s|m|h|d)?$/;
const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
const PRIVATE_PROXIES = 'loopback, linklocal, uniquelocal';
const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** "3600", "90s", "15m", "1h", "14d" → seconds. */
function duration(min: number, max = 365 * 86400) {
  return z.string().trim().transform((text, ctx) => {
    const match = DURATION.exec(text);
    if (!match) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration; use seconds or a number with s, m, h or d (e.g. 1h)` });
      return z.NEVER;
    }
    const seconds = Math.round(Number(match[1]) * UNIT_SECONDS[match[2] ?? 's']!);
    if (seconds < min || seconds > max) {
      ctx.addIssue({ code: 'custom', message: `must be between ${min}s and ${max}s, got ${seconds}s` });
      return z.NEVER;
    }
    return seconds;
  });
}

const bool = z.string().trim().toLowerCase().transform((text, ctx) => {
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(text)) return false;
  ctx.addIssue({ code: 'custom', message: `"${text}" is not a boolean; use true or false` });
  return z.NEVER;
});

const int = (min: number, max: number) => z.string().trim().regex(/^\d+$/, 'must be a whole number').transform(Number)
  .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const publicOrigin = z.string().trim().transform((text, ctx) => {
  const url = URL.parse(text);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an http(s) URL (e.g. https://mcp.example.com)` });
    return z.NEVER;
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) {
    ctx.addIssue({ code: 'custom', message: `must be an origin only, like ${url.origin} (no path, query or credentials)` });
    return z.NEVER;
  }
  if (url.protocol === 'http:' && !isLoopbackHostname(url.hostname)) {
    ctx.addIssue({ code: 'custom', message: `must use https unless the host is localhost, 127.0.0.1 or [::1] (OAuth 2.1 requires TLS), got ${url.origin}` });
    return z.NEVER;
  }
  return url.origin;
});

/** An upstream's URL: https, or http on loopback (tests), the same rule as PUBLIC_URL; a path is allowed (GitHub Enterprise's /api/v3). */
const upstreamUrl = (exact = false) => z.string().trim().transform((text, ctx) => {
  const url = URL.parse(text);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username || url.password) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an http(s) URL without query or credentials (e.g. https://github.com)` });
    return z.NEVER;
  }
  if (url.protocol === 'http:' && !isLoopbackHostname(url.hostname)) {
    ctx.addIssue({ code: 'custom', message: `must use https unless the host is localhost, 127.0.0.1 or [::1], got ${url.origin}` });
    return z.NEVER;
  }
  // An OIDC issuer is compared to the discovery document's exactly (a trailing slash included).
  return exact ? text : url.href.replace(/\/+$/, '');
});

/** "a, B ,c" → ['a', 'b', 'c']. */
const lowerList = z.string().transform((text) => text.split(',').map((item) => item.trim().toLowerCase()).filter(Boolean));

const tokenKey = z.string().trim().transform((text, ctx) => {
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : /^[A-Za-z0-9_-]{43}=?$/.test(text) ? Buffer.from(text, 'base64url') : undefined;
  if (key?.length !== 32) {
    ctx.addIssue({ code: 'custom', message: 'must be 32 bytes as 64 hex characters or base64url (e.g. from `openssl rand -hex 32`)' });
    return z.NEVER;
  }
  return key;
});

const schema = z.object({
  PORT: int(0, 65535).default(8080),
  HOST: z.string().trim().min(1).optional(),
  PUBLIC_URL: publicOrigin.optional(),
  DATA_DIR: z.string().trim().min(1).default('data'),
  STORAGE_BUSY_TIMEOUT: duration(1, 60).default(5),
  ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').optional(),
  PASSWORD_HASH_COST: int(10, 20).default(15),
  ACCESS_TOKEN_TTL: duration(1).default(3600),
  ALLOW_SHORT_ACCESS_TOKEN_TTL: bool.default(false),
  REFRESH_TOKEN_TTL: duration(3600).default(14 * 86400),
  GRANT_TTL: duration(3600).default(90 * 86400),
  REFRESH_REUSE_GRACE: duration(0, 300).default(30),
  LOGIN_SESSION_TTL: duration(60).default(86400),
  MCP_SESSION_IDLE_TTL: duration(1).default(1800),
  MCP_MAX_SESSIONS: int(1, 10_000_000).default(10_000),
  MCP_MAX_SESSIONS_PER_USER: int(1, 10_000).default(20),
  STATELESS: bool.default(false),
  REGISTRATION_RATE_LIMIT: int(1, 1_000_000).default(100),
  LOGIN_RATE_LIMIT: int(1, 1_000_000).default(30),
  LOGIN_FAILURES_BEFORE_BACKOFF: int(1, 1_000_000).default(5),
  LOGIN_BACKOFF_MAX: duration(1, 86400).default(15 * 60),
  TOKEN_RATE_LIMIT: int(1, 1_000_000).default(600),
  UNUSED_REGISTRATION_TTL: duration(1).default(86400),
  TRUST_PROXY: z.string().trim().transform((text, ctx) => {
    if (/^\d+$/.test(text)) return Number(text);
    const entries = text.split(',').map((entry) => entry.trim()).filter(Boolean);
    const bad = entries.find((entry) => !PROXY_NAMES.has(entry) && isIP(entry.split('/')[0]!) === 0);
    if (bad !== undefined || entries.length === 0) {
      ctx.addIssue({ code: 'custom', message: `"${bad ?? text}" is not a number of hops, an address, a subnet, or loopback/linklocal/uniquelocal` });
      return z.NEVER;
    }
    return entries.join(', ');
  }).optional(),
  ALLOWED_ORIGINS: z.string().default(''),
  ACCESS_LOG: bool.default(true),
  TEST_ONLY_CONFORMANCE_FIXTURES: bool.default(false),
  CLIENT_ID_METADATA_DOCUMENTS: bool.default(true),
  CIMD_FETCH_RATE_LIMIT: int(1, 1_000_000).default(30),
  TEST_ONLY_CIMD_ALLOW_LOOPBACK: bool.default(false),
  LEGACY_SSE: bool.optional(),
  GITHUB_CLIENT_ID: z.string().trim().min(1).optional(),
  GITHUB_CLIENT_SECRET: z.string().trim().min(1).optional(),
  MCP_GITHUB_CLIENT_ID: z.string().trim().min(1).optional(),
  MCP_GITHUB_CLIENT_SECRET: z.string().trim().min(1).optional(),
  GITHUB_BASE_URL: upstreamUrl().default('https://github.com'),
  GITHUB_API_URL: upstreamUrl().default('https://api.github.com'),
  GITHUB_ALLOWED_USERS: lowerList.default([]),
  GITHUB_ALLOWED_ORGS: lowerList.default([]),
  OIDC_ISSUER: upstreamUrl(true).optional(),
  OIDC_CLIENT_ID: z.string().trim().min(1).optional(),
  OIDC_CLIENT_SECRET: z.string().trim().min(1).optional(),
  OIDC_SCOPES: z.string().trim().refine((text) => text.split(/\s+/).includes('openid'), 'must include "openid"').default('openid email profile'),
  OIDC_NAME: z.string().trim().min(1).max(60, 'must be at most 60 characters').optional(),
  OIDC_ALLOWED_EMAIL_DOMAINS: lowerList.default([]),
  OIDC_REQUIRED_CLAIM: z.string().trim().regex(/^[^=\s]+=.+$/, 'must be claim=value (e.g. groups=mcp-users)').optional(),
  LOCAL_ACCOUNTS: bool.default(true),
  UPSTREAM_TOKEN_KEY: tokenKey.optional(),
});

type Raw = z.output<typeof schema>;

/** The environment variables read, in the order `.env.example` documents them. */
export const CONFIG_VARIABLES = Object.keys(schema.shape);

/** Reads and checks the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  // Empty variables (e.g. `ADMIN_PASSWORD=` in a .env file) mean "not set".
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    throw new ConfigError(name, issue.message);
  }
  return derive(parsed.data, cwd);
}

function derive(raw: Raw, cwd: string): Config {
  if (raw.ACCESS_TOKEN_TTL < 600 && !raw.ALLOW_SHORT_ACCESS_TOKEN_TTL) {
    // Clients refresh ahead of expiry (Gemini CLI 5 min, mcp-remote 60 s): short tokens mean a refresh per request.
    throw new ConfigError('ACCESS_TOKEN_TTL', `is ${raw.ACCESS_TOKEN_TTL}s; keep it at 600s or more, or set ALLOW_SHORT_ACCESS_TOKEN_TTL=true`);
  }
  if (raw.GRANT_TTL < raw.REFRESH_TOKEN_TTL) {
    throw new ConfigError('GRANT_TTL', `(${raw.GRANT_TTL}s) must not be shorter than REFRESH_TOKEN_TTL (${raw.REFRESH_TOKEN_TTL}s)`);
  }
  if (raw.PUBLIC_URL === undefined && raw.PORT === 0) {
    throw new ConfigError('PORT', 'is 0 (any free port); set PUBLIC_URL too, since tokens are bound to a fixed URL');
  }
  const publicUrl = raw.PUBLIC_URL ?? `http://localhost:${raw.PORT}`;
  if (publicUrl.startsWith('https:') && raw.TRUST_PROXY === 0) {
    throw new ConfigError('TRUST_PROXY', 'is 0 but PUBLIC_URL is https: this server speaks plain HTTP behind a TLS proxy, so trust that proxy (its address, or TRUST_PROXY=1)');
  }
  const loopbackOnly = isLoopbackHostname(new URL(publicUrl).hostname);
  const hosts = bindHosts(raw.HOST, loopbackOnly);
  // Test-only settings (fixture tools, fetching documents from this machine) must never reach a
  // server others can use: they are refused unless the server is on loopback in every sense.
  for (const setting of ['TEST_ONLY_CONFORMANCE_FIXTURES', 'TEST_ONLY_CIMD_ALLOW_LOOPBACK'] as const) {
    if (!raw[setting]) continue;
    if (!loopbackOnly) throw new ConfigError(setting, `is for tests on this machine only; it is refused when PUBLIC_URL is not loopback (${publicUrl})`);
    const exposed = hosts.find((host) => host !== 'localhost' && addressKind(host) !== 'loopback');
    if (exposed) throw new ConfigError(setting, `is for tests on this machine only; it is refused when HOST is not loopback (${exposed})`);
  }
  const allowedOrigins = raw.ALLOWED_ORIGINS.split(',').map((origin) => origin.trim()).filter(Boolean);
  for (const origin of allowedOrigins) {
    if (URL.parse(origin)?.origin !== origin) {
      throw new ConfigError('ALLOWED_ORIGINS', `"${origin}" is not an origin like https://app.example.com`);
    }
  }
  if (raw.LEGACY_SSE === true && raw.STATELESS) {
    // An SSE session lives in this process for as long as its GET stream is open: it cannot be stateless.
    throw new ConfigError('LEGACY_SSE', 'is true but STATELESS is true: the HTTP+SSE transport keeps a session per open stream; set LEGACY_SSE=false or leave it unset');
  }
  const github = githubSettings(raw);
  const oidc = oidcSettings(raw);
  if (!raw.LOCAL_ACCOUNTS && !github && !oidc) {
    throw new ConfigError('LOCAL_ACCOUNTS', 'is false but no upstream sign-in is configured; set GITHUB_CLIENT_ID/GITHUB_CLIENT_SECRET or OIDC_ISSUER/OIDC_CLIENT_ID/OIDC_CLIENT_SECRET, or LOCAL_ACCOUNTS=true');
  }
  return {
    port: raw.PORT,
    bindHosts: hosts,
    publicUrl,
    mcpUrl: `${publicUrl}/mcp`,
    loopbackOnly,
    dataDir: path.resolve(cwd, raw.DATA_DIR),
    storageBusyTimeout: raw.STORAGE_BUSY_TIMEOUT,
    adminPassword: raw.ADMIN_PASSWORD,
    passwordHashCost: raw.PASSWORD_HASH_COST,
    accessTokenTtl: raw.ACCESS_TOKEN_TTL,
    refreshTokenTtl: raw.REFRESH_TOKEN_TTL,
    grantTtl: raw.GRANT_TTL,
    refreshReuseGrace: raw.REFRESH_REUSE_GRACE,
    loginSessionTtl: raw.LOGIN_SESSION_TTL,
    mcpSessionIdleTtl: raw.MCP_SESSION_IDLE_TTL,
    mcpMaxSessions: raw.MCP_MAX_SESSIONS,
    mcpMaxSessionsPerUser: raw.MCP_MAX_SESSIONS_PER_USER,
    stateless: raw.STATELESS,
    registrationRateLimit: raw.REGISTRATION_RATE_LIMIT,
    loginRateLimit: raw.LOGIN_RATE_LIMIT,
    loginFailuresBeforeBackoff: raw.LOGIN_FAILURES_BEFORE_BACKOFF,
    loginBackoffMax: raw.LOGIN_BACKOFF_MAX,
    tokenRateLimit: raw.TOKEN_RATE_LIMIT,
    unusedRegistrationTtl: raw.UNUSED_REGISTRATION_TTL,
    // An https public URL in front of this plain-http listener means a TLS-terminating proxy is
    // there; by default one on this host or a private network, so a client reaching the port
    // directly cannot pose as one with a forged X-Forwarded-For.
    trustProxy: raw.TRUST_PROXY ?? (publicUrl.startsWith('https:') ? PRIVATE_PROXIES : 0),
    allowedOrigins,
    accessLog: raw.ACCESS_LOG,
    testOnlyConformanceFixtures: raw.TEST_ONLY_CONFORMANCE_FIXTURES,
    clientIdMetadataDocuments: raw.CLIENT_ID_METADATA_DOCUMENTS,
    cimdFetchRateLimit: raw.CIMD_FETCH_RATE_LIMIT,
    testOnlyCimdAllowLoopback: raw.TEST_ONLY_CIMD_ALLOW_LOOPBACK,
    legacySseUrl: (raw.LEGACY_SSE ?? !raw.STATELESS) ? `${publicUrl}/sse` : undefined,
    github,
    oidc,
    localAccounts: raw.LOCAL_ACCOUNTS,
    upstreamTokenKey: raw.UPSTREAM_TOKEN_KEY,
  };
}

/** GitHub settings under either name (the seed's MCP_GITHUB_*); one half without the other is an error. */
function githubSettings(raw: Raw): GitHubSettings | undefined {
  const [idName, clientId] = raw.GITHUB_CLIENT_ID ? ['GITHUB_CLIENT_ID', raw.GITHUB_CLIENT_ID] : ['MCP_GITHUB_CLIENT_ID', raw.MCP_GITHUB_CLIENT_ID];
  const [secretName, clientSecret] = raw.GITHUB_CLIENT_SECRET ? ['GITHUB_CLIENT_SECRET', raw.GITHUB_CLIENT_SECRET] : ['MCP_GITHUB_CLIENT_SECRET', raw.MCP_GITHUB_CLIENT_SECRET];
  if (clientId && !clientSecret) throw new ConfigError('GITHUB_CLIENT_SECRET', `is missing: ${idName} is set, and GitHub sign-in needs the OAuth app's client secret too`);
  if (clientSecret && !clientId) throw new ConfigError('GITHUB_CLIENT_ID', `is missing: ${secretName} is set, and GitHub sign-in needs the OAuth app's client ID too`);
  if (!clientId || !clientSecret) {
    if (raw.GITHUB_ALLOWED_USERS.length > 0 || raw.GITHUB_ALLOWED_ORGS.length > 0) {
      throw new ConfigError('GITHUB_CLIENT_ID', 'is missing: GITHUB_ALLOWED_USERS/GITHUB_ALLOWED_ORGS are set, but GitHub sign-in is not configured');
    }
    return undefined;
  }
  return {
    clientId,
    clientSecret,
    baseUrl: raw.GITHUB_BASE_URL,
    apiUrl: raw.GITHUB_API_URL,
    allowedUsers: raw.GITHUB_ALLOWED_USERS,
    allowedOrgs: raw.GITHUB_ALLOWED_ORGS,
  };
}

function oidcSettings(raw: Raw): OidcSettings | undefined {
  const given = (['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET'] as const).filter((name) => raw[name] !== undefined);
  if (given.length === 0) {
    const stray = (['OIDC_NAME', 'OIDC_REQUIRED_CLAIM'] as const).find((name) => raw[name] !== undefined) ?? (raw.OIDC_ALLOWED_EMAIL_DOMAINS.length > 0 ? 'OIDC_ALLOWED_EMAIL_DOMAINS' : undefined);
    if (stray) throw new ConfigError('OIDC_ISSUER', `is missing: ${stray} is set, but OpenID Connect sign-in is not configured`);
    return undefined;
  }
  const missing = (['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET'] as const).find((name) => raw[name] === undefined);
  if (missing) throw new ConfigError(missing, `is missing: ${given.join(' and ')} ${given.length === 1 ? 'is' : 'are'} set, and OpenID Connect sign-in needs OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET`);
  const issuer = raw.OIDC_ISSUER!;
  const claim = raw.OIDC_REQUIRED_CLAIM;
  const eq = claim?.indexOf('=') ?? -1;
  return {
    issuer,
    clientId: raw.OIDC_CLIENT_ID!,
    clientSecret: raw.OIDC_CLIENT_SECRET!,
    scopes: raw.OIDC_SCOPES.split(/\s+/).join(' '),
    name: raw.OIDC_NAME ?? new URL(issuer).host,
    allowedEmailDomains: raw.OIDC_ALLOWED_EMAIL_DOMAINS.map((domain) => domain.replace(/^@/, '')),
    requiredClaim: claim ? { name: claim.slice(0, eq), value: claim.slice(eq + 1) } : undefined,
  };
}

/** Every RFC 8707 resource this server issues tokens for: /mcp, and /sse while the legacy transport is on. */
export function mcpResources(config: Pick<Config, 'mcpUrl' | 'legacySseUrl'>): string[] {
  return config.legacySseUrl ? [config.mcpUrl, config.legacySseUrl] : [config.mcpUrl];
}

/** A server whose public URL is loopback listens on loopback only, unless HOST says otherwise. */
function bindHosts(host: string | undefined, loopbackOnly: boolean): string[] {
  const value = host ?? (loopbackOnly ? 'loopback' : '::');
  return value === 'loopback' ? ['127.0.0.1', '::1'] : [value];
}
