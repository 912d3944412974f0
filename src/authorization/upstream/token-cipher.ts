import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Where the generated key lives when UPSTREAM_TOKEN_KEY is unset: beside the database, not in it. */
export const TOKEN_KEY_FILE = 'upstream-token.key';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM for upstream tokens at rest. The key is kept out of the database (a setting, or a
 * file of its own), so a copy of the database alone does not reveal a GitHub or OIDC token. Each
 * ciphertext is bound (as associated data) to the identity it belongs to: a row's tokens copied
 * onto another row do not decrypt.
 */
export class TokenCipher {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the upstream token key must be 32 bytes');
  }

  encrypt(plain: string, boundTo: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(boundTo));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** Throws when the text was not encrypted under this key for `boundTo` (another key, tampering). */
  decrypt(text: string, boundTo: string): string {
    const [version, packed] = text.split('.');
    if (version !== VERSION || !packed) throw new Error('not an encrypted upstream token');
    const bytes = Buffer.from(packed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(boundTo));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  }
}

/**
 * The configured key, or the one in DATA_DIR/upstream-token.key, created (mode 0600) when
 * `create` (an upstream is configured). Without one, a throw-away key: nothing is stored with it.
 */
export function loadTokenKey(configured: Buffer | undefined, dataDir: string, create: boolean): Buffer {
  if (configured) return configured;
  const file = path.join(dataDir, TOKEN_KEY_FILE);
  if (!create && !fs.existsSync(file)) return randomBytes(32);
  try {
    // 'wx': two instances starting at once cannot both write a key; the loser reads the winner's.
    fs.writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as { code?: string }).code !== 'EEXIST') throw error;
  }
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'hex');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte key in hex; restore it, or delete it (stored upstream tokens then stop working until each user signs in again)`);
  return key;
}
