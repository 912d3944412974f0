import { generateKeyPair, randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
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

const generateRsaKeyPair = promisify(generateKeyPair);

/**
 * The first signing key: RSA-2048 takes a fifth of a second or more to generate. It is generated
 * on libuv's thread pool, so a first start goes on meanwhile (the admin password is hashed there
 * too, at the same time: app.ts) instead of waiting for it on the event loop.
 */
async function newSigningKeys(): Promise<string> {
  const { privateKey } = await generateRsaKeyPair('rsa', { modulusLength: 2048 });
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
