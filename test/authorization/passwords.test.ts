import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generatePassword, hashPassword, needsRehash, verifyPassword } from '../../src/authorization/passwords.js';

describe('password hashing (scrypt)', () => {
  it('verifies the right password and refuses a wrong one', async () => {
    const hash = await hashPassword('correct horse battery staple', 12);
    assert.match(hash, /^scrypt\$12\$8\$1\$[\w-]+\$[\w-]+$/);
    assert.equal(await verifyPassword('correct horse battery staple', hash), true);
    assert.equal(await verifyPassword('correct horse battery stapl', hash), false);
  });

  it('salts every hash', async () => {
    assert.notEqual(await hashPassword('same password!!', 10), await hashPassword('same password!!', 10));
  });

  it('refuses malformed hashes instead of throwing', async () => {
    for (const hash of ['', 'plain', 'scrypt$99$8$1$a$b', 'bcrypt$1$2$3$4$5']) assert.equal(await verifyPassword('x', hash), false);
  });

  it('asks for a rehash when the configured cost went up', async () => {
    const hash = await hashPassword('password-password', 10);
    assert.equal(needsRehash(hash, 10), false);
    assert.equal(needsRehash(hash, 12), true);
  });

  it('generates 20-character passwords from an unambiguous alphabet', () => {
    const passwords = new Set(Array.from({ length: 50 }, generatePassword));
    assert.equal(passwords.size, 50);
    for (const password of passwords) assert.match(password, /^[a-km-zA-HJ-NP-Z2-9]{20}$/);
  });
});
