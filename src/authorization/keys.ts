import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type { JWK } from 'oidc-provider';
import type { SecretStore } from '../storage/store.js';

/** Secrets generated on the first start and kept in storage, so restarts and other instances share them. */
export interface ServerKeys {
  /** Private signing keys (ID tokens) in JWK form. */
  jwks: { keys: JWK[] };
  /** Keys that sign the authorization server's cookies; the first signs, all verify. */
  cookieKeys: string[];
  /** Key for the CSRF tokens on the login and consent forms. */
  csrfKey: Buffer;
}

function newSigningKeys(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
  return JSON.stringify({ keys: [jwk] });
}

const randomSecret = () => randomBytes(32).toString('base64url');

export async function loadServerKeys(secrets: SecretStore): Promise<ServerKeys> {
  const [jwks, cookieKey, csrfKey] = await Promise.all([
    secrets.getOrCreate('jwks', newSigningKeys),
    secrets.getOrCreate('cookie-key', randomSecret),
    secrets.getOrCreate('csrf-key', randomSecret),
  ]);
  return {
    jwks: JSON.parse(jwks) as { keys: JWK[] },
    cookieKeys: [cookieKey],
    csrfKey: Buffer.from(csrfKey, 'base64url'),
  };
}
