import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OpenID provider whose ID tokens are wrong in one chosen way: another nonce, issuer or
 * audience, expired, or signed with a key it does not publish. Apart from that flaw each token is
 * a proper RS256 JWT for the code just issued, so the flaw is the only reason to refuse it. It
 * speaks just enough OpenID Connect for a relying party's code flow: discovery, JWKS, an
 * authorization endpoint where the person is signed in at once, and a token endpoint. (The real
 * provider of upstream-oidc.ts cannot be made to issue a wrong token; that is the point of it.)
 */

export type IdTokenFlaw = 'nonce' | 'issuer' | 'audience' | 'expired' | 'signature';

export interface MisbehavingOidc {
  issuer: string;
  /** The flaw of the next ID tokens; undefined for correct ones. */
  flaw: IdTokenFlaw | undefined;
  /** The ID tokens issued, as sent. */
  issued: string[];
  close(): Promise<void>;
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function jwt(payload: Record<string, unknown>, key: KeyObject, kid: string): string {
  const signed = `${base64url({ alg: 'RS256', typ: 'JWT', kid })}.${base64url(payload)}`;
  return `${signed}.${sign('sha256', Buffer.from(signed), key).toString('base64url')}`;
}

export async function startMisbehavingOidc(options: { clientId: string; clientSecret: string; sub: string; email: string }): Promise<MisbehavingOidc> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const kid = randomBytes(8).toString('hex');
  const codes = new Map<string, { nonce: string }>();
  const issued: string[] = [];
  let issuer = '';

  const idToken = (nonce: string, flaw: IdTokenFlaw | undefined): string => {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      iss: flaw === 'issuer' ? `${issuer}/elsewhere` : issuer,
      sub: options.sub,
      aud: flaw === 'audience' ? 'another-client' : options.clientId,
      iat: flaw === 'expired' ? now - 7200 : now,
      exp: flaw === 'expired' ? now - 3600 : now + 300,
      nonce: flaw === 'nonce' ? 'not-the-nonce-that-was-sent' : nonce,
      email: options.email,
      email_verified: true,
    };
    return jwt(claims, flaw === 'signature' ? stranger : privateKey, kid);
  };

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  const fixture: MisbehavingOidc = {
    issuer: '',
    flaw: undefined,
    issued,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname === '/.well-known/openid-configuration') {
      json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      });
      return;
    }
    if (url.pathname === '/jwks') {
      json(res, 200, { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] });
      return;
    }
    if (url.pathname === '/authorize') {
      const params = url.searchParams;
      if (params.get('client_id') !== options.clientId || !params.get('redirect_uri') || params.get('code_challenge_method') !== 'S256') {
        json(res, 400, { error: 'invalid_request' });
        return;
      }
      const code = randomBytes(16).toString('base64url');
      codes.set(code, { nonce: params.get('nonce') ?? '' });
      const back = new URL(params.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', params.get('state') ?? '');
      res.writeHead(302, { location: back.href });
      res.end();
      return;
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const basic = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
        const secret = form.get('client_secret') ?? decodeURIComponent(basic.slice(basic.indexOf(':') + 1));
        const grant = codes.get(form.get('code') ?? '');
        if (secret !== options.clientSecret) return json(res, 401, { error: 'invalid_client' });
        if (!grant || !form.get('code_verifier')) return json(res, 400, { error: 'invalid_grant' });
        codes.delete(form.get('code')!);
        const token = idToken(grant.nonce, fixture.flaw);
        issued.push(token);
        json(res, 200, { access_token: randomBytes(16).toString('base64url'), token_type: 'Bearer', expires_in: 3600, id_token: token });
      });
      return;
    }
    json(res, 404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fixture.issuer = issuer;
  return fixture;
}
