import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { interactionPolicy, type Account, type Configuration } from 'oidc-provider';

/**
 * A real OpenID Connect provider for tests: a second instance of oidc-provider (the library this
 * server is built on, certified OpenID Provider) on 127.0.0.1. Discovery, JWKS, authorization,
 * token and userinfo endpoints are the library's own; ID tokens are real RS256 JWTs carrying the
 * nonce; PKCE (S256) is required of every client. Only the person is simulated: an interaction
 * (sign-in and consent at the provider) completes at once as the account `signInAs` chose, or
 * ends with access_denied after `denyNext`.
 */

export interface UpstreamOidcAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  given_name?: string;
  family_name?: string;
  preferred_username?: string;
  /** Any other claim (groups, roles, hd, …): released with every token, as a provider's claim mapper would. */
  [claim: string]: unknown;
}

export interface UpstreamOidcOptions {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  accounts: UpstreamOidcAccount[];
}

export interface UpstreamOidcRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  status?: number;
}

export interface UpstreamOidc {
  /** The issuer URL (discovery at `${issuer}/.well-known/openid-configuration`). */
  issuer: string;
  /** From now on the person at the provider is the account `sub`: the next authorization signs them in (a different account than the session's signs in again). */
  signInAs(sub: string): void;
  /** The person refuses the next authorization (error=access_denied back at the client). */
  denyNext(): void;
  requests: UpstreamOidcRequest[];
  /** The library instance, for tests that need to look at what it issued. */
  provider: Provider;
  close(): Promise<void>;
}

const STANDARD_CLAIMS: Record<string, string[]> = {
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at'],
};

export async function startUpstreamOidc(options: UpstreamOidcOptions): Promise<UpstreamOidc> {
  const accounts = new Map(options.accounts.map((account) => [account.sub, account]));
  const requests: UpstreamOidcRequest[] = [];
  let chosen: string | undefined;
  let denyPending = false;
  let provider: Provider | undefined;
  let handler: ReturnType<Provider['callback']> | undefined;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    const record: UpstreamOidcRequest = { method: req.method ?? 'GET', url, headers: req.headers };
    requests.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    if (url.pathname.startsWith('/interaction/')) {
      void interact(req, res).catch((error: unknown) => page(res, 500, `The test provider's interaction failed: ${String(error)}`));
      return;
    }
    void handler!(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const extraClaims = [...new Set(options.accounts.flatMap((account) => Object.keys(account)))]
    .filter((claim) => claim !== 'sub' && !Object.values(STANDARD_CLAIMS).flat().includes(claim));

  // Signing in again is due when the person chosen is not the one signed in, or when they are to refuse.
  const policy = interactionPolicy.base();
  policy.get('login')!.checks.push(new interactionPolicy.Check('test_person', 'the test chose who is at the browser', (ctx) =>
    denyPending || ctx.oidc.session?.accountId !== chosen ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT));

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const configuration: Configuration = {
    clients: [{
      client_id: options.clientId,
      client_secret: options.clientSecret,
      redirect_uris: options.redirectUris,
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      // Registered for Basic; the library accepts client_secret_post from it too, as Google and Keycloak do.
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    findAccount: async (_ctx, sub): Promise<Account | undefined> => {
      const account = accounts.get(sub);
      return account ? { accountId: sub, claims: async () => ({ ...account, sub }) } : undefined;
    },
    claims: { openid: ['sub', ...extraClaims], ...STANDARD_CLAIMS },
    // Claims in the ID token as well as at userinfo, as Google and Keycloak issue them.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    interactions: { policy, url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    ttl: { AuthorizationCode: 600, AccessToken: 3600, IdToken: 3600, RefreshToken: 86_400, Interaction: 600, Grant: 86_400, Session: 86_400 },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html><head><title>Test OpenID provider</title></head><body><p>${escapeHtml(`${out.error}: ${out.error_description ?? ''}`)}</p></body></html>`;
    },
  };
  provider = new Provider(issuer, configuration);
  handler = provider.callback();
  // A server_error here is a fault in this fixture's use of the library: shown, so the failing test can be understood.
  provider.on('server_error', (_ctx, error) => console.error('upstream OIDC provider error:', error));

  async function interact(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider!.interactionDetails(req, res);
    if (denyPending) {
      denyPending = false;
      await provider!.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
      return;
    }
    if (!chosen) return page(res, 401, 'Nobody is signed in to this test provider (call signInAs first).');
    const accountId = chosen;
    const clientId = String(details.params.client_id);
    const existing = details.grantId ? await provider!.Grant.find(details.grantId) : undefined;
    const grant = existing?.accountId === accountId ? existing : new provider!.Grant({ accountId, clientId });
    grant.addOIDCScope(String(details.params.scope ?? 'openid'));
    const grantId = await grant.save();
    await provider!.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
  }

  return {
    issuer,
    provider,
    requests,
    signInAs(sub) {
      if (!accounts.has(sub)) throw new Error(`the test OIDC provider has no account ${sub}`);
      chosen = sub;
    },
    denyNext() {
      denyPending = true;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function page(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><head><title>Test OpenID provider</title></head><body><p>${text}</p></body></html>`);
}
