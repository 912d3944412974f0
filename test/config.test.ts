import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import fs from 'node:fs';
import { CONFIG_VARIABLES, loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

const load = (env: Record<string, string>) => loadConfig(env, '/srv/app');

function refuses(env: Record<string, string>, setting: string, message: RegExp) {
  assert.throws(() => load(env), (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.setting, setting);
    assert.match(error.message, message);
    assert.doesNotMatch(error.message, /\n/, 'one line');
    return true;
  });
}

describe('configuration from the environment', () => {
  it('defaults to the seed post: port 8080, http://localhost:8080/mcp, loopback only, ./data', () => {
    const config = load({});
    assert.equal(config.port, 8080);
    assert.equal(config.publicUrl, 'http://localhost:8080');
    assert.equal(config.mcpUrl, 'http://localhost:8080/mcp');
    assert.deepEqual(config.bindHosts, ['127.0.0.1', '::1']);
    assert.equal(config.loopbackOnly, true);
    assert.equal(config.dataDir, path.resolve('/srv/app', 'data'));
    assert.equal(config.accessTokenTtl, 3600);
    assert.equal(config.refreshReuseGrace, 30);
    assert.equal(config.stateless, false);
    assert.equal(config.trustProxy, 0);
  });

  it('changing PORT alone moves every URL with it', () => {
    const config = load({ PORT: '9000' });
    assert.equal(config.publicUrl, 'http://localhost:9000');
    assert.equal(config.mcpUrl, 'http://localhost:9000/mcp');
  });

  it('takes a public https origin (trailing slash dropped), listens on all interfaces and trusts proxies on private networks', () => {
    const config = load({ PUBLIC_URL: 'https://mcp.example.com/' });
    assert.equal(config.publicUrl, 'https://mcp.example.com');
    assert.equal(config.mcpUrl, 'https://mcp.example.com/mcp');
    assert.equal(config.loopbackOnly, false);
    assert.deepEqual(config.bindHosts, ['::']);
    assert.equal(config.trustProxy, 'loopback, linklocal, uniquelocal');
  });

  it('reads TRUST_PROXY as hops or as addresses and subnets', () => {
    assert.equal(load({ TRUST_PROXY: '2' }).trustProxy, 2);
    assert.equal(load({ TRUST_PROXY: '10.0.0.1, 192.168.0.0/16,loopback' }).trustProxy, '10.0.0.1, 192.168.0.0/16, loopback');
    refuses({ TRUST_PROXY: 'everyone' }, 'TRUST_PROXY', /not a number of hops/);
  });

  it('reads durations as seconds or with a unit', () => {
    const config = load({ ACCESS_TOKEN_TTL: '2h', REFRESH_TOKEN_TTL: '30d', GRANT_TTL: '90d', MCP_SESSION_IDLE_TTL: '90s' });
    assert.equal(config.accessTokenTtl, 7200);
    assert.equal(config.refreshTokenTtl, 30 * 86400);
    assert.equal(config.mcpSessionIdleTtl, 90);
  });

  it('treats empty variables as unset', () => {
    assert.equal(load({ ADMIN_PASSWORD: '', PORT: '' }).adminPassword, undefined);
  });

  it('refuses a bad value with one line naming the variable', () => {
    refuses({ PORT: 'eighty' }, 'PORT', /whole number/);
    refuses({ PORT: '70000' }, 'PORT', /at most 65535/);
    refuses({ PUBLIC_URL: 'https://mcp.example.com/base' }, 'PUBLIC_URL', /origin only/);
    refuses({ PUBLIC_URL: 'http://mcp.example.com' }, 'PUBLIC_URL', /https/);
    refuses({ PUBLIC_URL: 'mcp.example.com' }, 'PUBLIC_URL', /not an http\(s\) URL/);
    refuses({ STATELESS: 'maybe' }, 'STATELESS', /boolean/);
    refuses({ ACCESS_TOKEN_TTL: 'soon' }, 'ACCESS_TOKEN_TTL', /duration/);
    refuses({ ADMIN_PASSWORD: 'short' }, 'ADMIN_PASSWORD', /12 characters/);
    refuses({ ALLOWED_ORIGINS: 'https://app.example.com/path' }, 'ALLOWED_ORIGINS', /not an origin/);
    refuses({ GRANT_TTL: '1d', REFRESH_TOKEN_TTL: '14d' }, 'GRANT_TTL', /REFRESH_TOKEN_TTL/);
    refuses({ PUBLIC_URL: 'https://mcp.example.com', TRUST_PROXY: '0' }, 'TRUST_PROXY', /TLS proxy/);
  });

  it('serves the legacy HTTP+SSE transport at PUBLIC_URL/sse unless LEGACY_SSE=false; never in stateless mode', () => {
    assert.equal(load({}).legacySseUrl, 'http://localhost:8080/sse');
    assert.equal(load({ PUBLIC_URL: 'https://mcp.example.com' }).legacySseUrl, 'https://mcp.example.com/sse');
    assert.equal(load({ LEGACY_SSE: 'false' }).legacySseUrl, undefined);
    assert.equal(load({ STATELESS: 'true' }).legacySseUrl, undefined, 'off by default in stateless mode');
    assert.equal(load({ STATELESS: 'true', LEGACY_SSE: 'false' }).legacySseUrl, undefined);
    refuses({ STATELESS: 'true', LEGACY_SSE: 'true' }, 'LEGACY_SSE', /STATELESS/);
    refuses({ LEGACY_SSE: 'sometimes' }, 'LEGACY_SSE', /boolean/);
  });

  it('refuses every TEST_ONLY_ setting unless the server is on loopback (its public URL and every address it binds)', () => {
    for (const setting of ['TEST_ONLY_CONFORMANCE_FIXTURES', 'TEST_ONLY_CIMD_ALLOW_LOOPBACK']) {
      refuses({ [setting]: 'true', PUBLIC_URL: 'https://mcp.example.com', TRUST_PROXY: '1' }, setting, /is for tests on this machine only; it is refused when PUBLIC_URL is not loopback \(https:\/\/mcp\.example\.com\)$/);
      refuses({ [setting]: 'true', HOST: '0.0.0.0' }, setting, /refused when HOST is not loopback \(0\.0\.0\.0\)$/);
      assert.doesNotThrow(() => load({ [setting]: 'true', HOST: '127.0.0.1' }));
    }
    assert.equal(load({ TEST_ONLY_CONFORMANCE_FIXTURES: 'true' }).testOnlyConformanceFixtures, true);
    assert.equal(load({}).testOnlyConformanceFixtures, false);
  });

  it('keeps access tokens at 10 minutes or more unless short ones are explicitly allowed', () => {
    refuses({ ACCESS_TOKEN_TTL: '60' }, 'ACCESS_TOKEN_TTL', /600s or more/);
    assert.equal(load({ ACCESS_TOKEN_TTL: '60', ALLOW_SHORT_ACCESS_TOKEN_TTL: 'true' }).accessTokenTtl, 60);
  });
});

describe('upstream sign-in settings', () => {
  const GITHUB = { GITHUB_CLIENT_ID: 'Iv1.abc', GITHUB_CLIENT_SECRET: 'shh-secret' };
  const OIDC = { OIDC_ISSUER: 'https://login.example.com/realms/main', OIDC_CLIENT_ID: 'mcp', OIDC_CLIENT_SECRET: 'oidc-secret' };

  it('has no upstream and keeps local accounts by default', () => {
    const config = load({});
    assert.equal(config.github, undefined);
    assert.equal(config.oidc, undefined);
    assert.equal(config.localAccounts, true);
    assert.equal(config.upstreamTokenKey, undefined);
  });

  it('reads GitHub under its own names or the seed\'s MCP_GITHUB_* names, with github.com defaults and lower-cased allowlists', () => {
    const config = load({ ...GITHUB, GITHUB_ALLOWED_USERS: 'Octocat, monaLisa ,', GITHUB_ALLOWED_ORGS: 'Acme' });
    assert.deepEqual(config.github, {
      clientId: 'Iv1.abc', clientSecret: 'shh-secret', baseUrl: 'https://github.com', apiUrl: 'https://api.github.com',
      allowedUsers: ['octocat', 'monalisa'], allowedOrgs: ['acme'],
    });
    const seed = load({ MCP_GITHUB_CLIENT_ID: 'seed-id', MCP_GITHUB_CLIENT_SECRET: 'seed-secret' }).github;
    assert.equal(seed?.clientId, 'seed-id');
    assert.equal(seed?.clientSecret, 'seed-secret');
  });

  it('takes GitHub Enterprise style URLs with a path, and http only on loopback', () => {
    const config = load({ ...GITHUB, GITHUB_BASE_URL: 'https://ghe.example.com/', GITHUB_API_URL: 'https://ghe.example.com/api/v3/' });
    assert.equal(config.github?.baseUrl, 'https://ghe.example.com');
    assert.equal(config.github?.apiUrl, 'https://ghe.example.com/api/v3');
    assert.equal(load({ ...GITHUB, GITHUB_BASE_URL: 'http://127.0.0.1:4000' }).github?.baseUrl, 'http://127.0.0.1:4000');
    refuses({ ...GITHUB, GITHUB_API_URL: 'http://api.example.com' }, 'GITHUB_API_URL', /https unless the host is localhost/);
    refuses({ ...GITHUB, GITHUB_BASE_URL: 'github.com' }, 'GITHUB_BASE_URL', /not an http\(s\) URL/);
    refuses({ ...OIDC, OIDC_ISSUER: 'http://idp.example.com' }, 'OIDC_ISSUER', /https unless/);
  });

  it('stops on a half-configured GitHub app with one line naming the missing variable', () => {
    refuses({ GITHUB_CLIENT_ID: 'Iv1.abc' }, 'GITHUB_CLIENT_SECRET', /missing: GITHUB_CLIENT_ID is set/);
    refuses({ MCP_GITHUB_CLIENT_SECRET: 'x' }, 'GITHUB_CLIENT_ID', /missing: MCP_GITHUB_CLIENT_SECRET is set/);
    refuses({ GITHUB_ALLOWED_ORGS: 'acme' }, 'GITHUB_CLIENT_ID', /not configured/);
  });

  it('reads OIDC with the issuer kept exactly, default scopes and name, domains and a required claim', () => {
    const config = load({ ...OIDC, OIDC_ISSUER: 'https://tenant.auth0.com/', OIDC_ALLOWED_EMAIL_DOMAINS: '@Example.com, example.org', OIDC_REQUIRED_CLAIM: 'groups=mcp=users' });
    assert.deepEqual(config.oidc, {
      issuer: 'https://tenant.auth0.com/', clientId: 'mcp', clientSecret: 'oidc-secret', scopes: 'openid email profile', name: 'tenant.auth0.com',
      allowedEmailDomains: ['example.com', 'example.org'], requiredClaim: { name: 'groups', value: 'mcp=users' },
    });
    assert.equal(load({ ...OIDC, OIDC_NAME: 'Keycloak', OIDC_SCOPES: 'openid  email' }).oidc?.name, 'Keycloak');
    assert.equal(load({ ...OIDC, OIDC_SCOPES: 'openid  email' }).oidc?.scopes, 'openid email');
    refuses({ ...OIDC, OIDC_SCOPES: 'email profile' }, 'OIDC_SCOPES', /openid/);
    refuses({ ...OIDC, OIDC_REQUIRED_CLAIM: 'groups' }, 'OIDC_REQUIRED_CLAIM', /claim=value/);
  });

  it('stops on a half-configured OIDC provider with one line naming the missing variable', () => {
    refuses({ OIDC_ISSUER: OIDC.OIDC_ISSUER }, 'OIDC_CLIENT_ID', /missing: OIDC_ISSUER is set/);
    refuses({ OIDC_ISSUER: OIDC.OIDC_ISSUER, OIDC_CLIENT_ID: 'mcp' }, 'OIDC_CLIENT_SECRET', /missing/);
    refuses({ OIDC_CLIENT_ID: 'mcp', OIDC_CLIENT_SECRET: 'x' }, 'OIDC_ISSUER', /missing/);
    refuses({ OIDC_NAME: 'Google' }, 'OIDC_ISSUER', /OIDC_NAME is set/);
  });

  it('allows LOCAL_ACCOUNTS=false only with an upstream configured', () => {
    refuses({ LOCAL_ACCOUNTS: 'false' }, 'LOCAL_ACCOUNTS', /no upstream sign-in is configured/);
    assert.equal(load({ ...GITHUB, LOCAL_ACCOUNTS: 'false' }).localAccounts, false);
    assert.equal(load({ ...OIDC, LOCAL_ACCOUNTS: 'false' }).localAccounts, false);
  });

  it('reads UPSTREAM_TOKEN_KEY as 32 bytes in hex or base64url, and refuses anything else', () => {
    const bytes = Buffer.alloc(32, 7);
    assert.deepEqual(load({ UPSTREAM_TOKEN_KEY: bytes.toString('hex') }).upstreamTokenKey, bytes);
    assert.deepEqual(load({ UPSTREAM_TOKEN_KEY: bytes.toString('base64url') }).upstreamTokenKey, bytes);
    refuses({ UPSTREAM_TOKEN_KEY: 'too-short' }, 'UPSTREAM_TOKEN_KEY', /32 bytes/);
    refuses({ UPSTREAM_TOKEN_KEY: 'ab'.repeat(31) }, 'UPSTREAM_TOKEN_KEY', /32 bytes/);
  });
});

describe('.env.example', () => {
  const text = fs.readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
  const lines = text.split('\n').map((line) => /^#?\s*([A-Z_]+)=(.*)$/.exec(line)).filter((match) => match !== null);

  it('lists every variable the server reads, and nothing else', () => {
    assert.deepEqual([...new Set(lines.map((match) => match[1]))].sort(), [...CONFIG_VARIABLES].sort());
  });

  it('shows the defaults: its values configure exactly what no values do', () => {
    const set = Object.fromEntries(lines.filter((match) => !match[0].startsWith('#')).map((match) => [match[1]!, match[2]!]));
    assert.deepEqual(load(set), load({}));
  });
});
