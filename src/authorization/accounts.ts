import { randomUUID } from 'node:crypto';
import type { Account, FindAccount } from 'oidc-provider';
import type { Store, User } from '../storage/store.js';
import { generatePassword, hashPassword, needsRehash, verifyPassword } from './passwords.js';

const USERNAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/;

export class InvalidUsernameError extends Error {
  constructor(username: string) {
    super(`"${username}" is not a valid username: use 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit`);
    this.name = 'InvalidUsernameError';
  }
}

export class WeakPasswordError extends Error {
  constructor() {
    super('passwords must be at least 12 characters');
    this.name = 'WeakPasswordError';
  }
}

/** An account that signs in through GitHub or an OIDC provider has no password to set. */
export class UpstreamAccountError extends Error {
  constructor(username: string, provider: string) {
    super(`"${username}" signs in with ${provider === 'github' ? 'GitHub' : 'its OpenID Connect provider'} and has no password here`);
    this.name = 'UpstreamAccountError';
  }
}

export const MIN_PASSWORD_LENGTH = 12;

/** Usernames are case-insensitive: stored and compared in lower case. */
export function normalizeUsername(username: string): string {
  return username.trim().toLowerCase();
}

/** Local accounts: sign-in, creation, and the account lookup oidc-provider needs. */
export class Accounts {
  #dummyHash: Promise<string> | undefined;

  private readonly users: Store['users'];

  constructor(private readonly store: Pick<Store, 'users' | 'models' | 'consents'>, private readonly hashCost: number) {
    this.users = store.users;
  }

  /** The user when the password is right; undefined otherwise, in about the same time either way. */
  async authenticate(username: string, password: string): Promise<User | undefined> {
    const user = await this.users.findByUsername(normalizeUsername(username));
    if (!user || user.passwordHash === null) {
      // An upstream user has no password: refused like an unknown name.
      // Spend the same work as a real check so response time does not reveal which usernames exist.
      this.#dummyHash ??= hashPassword(generatePassword(), this.hashCost);
      await verifyPassword(password, await this.#dummyHash);
      return undefined;
    }
    if (!(await verifyPassword(password, user.passwordHash))) return undefined;
    if (needsRehash(user.passwordHash, this.hashCost)) {
      await this.users.setPasswordHash(user.id, await hashPassword(password, this.hashCost));
    }
    return user;
  }

  async add(username: string, password: string, displayName?: string): Promise<User> {
    const name = normalizeUsername(username);
    if (!USERNAME.test(name)) throw new InvalidUsernameError(username);
    if (password.length < MIN_PASSWORD_LENGTH) throw new WeakPasswordError();
    return this.users.create({
      id: randomUUID(),
      username: name,
      displayName: displayName?.trim() || name,
      signInMethod: 'password',
      passwordHash: await hashPassword(password, this.hashCost),
    });
  }

  /**
   * A new password also ends everything the old one started: the user's browser sessions, grants
   * and tokens are revoked and remembered consents forgotten, as after a suspected compromise.
   */
  async setPassword(username: string, password: string): Promise<boolean> {
    if (password.length < MIN_PASSWORD_LENGTH) throw new WeakPasswordError();
    const user = await this.users.findByUsername(normalizeUsername(username));
    if (!user) return false;
    if (user.signInMethod !== 'password') throw new UpstreamAccountError(user.username, user.signInMethod);
    if (!(await this.users.setPasswordHash(user.id, await hashPassword(password, this.hashCost)))) return false;
    await this.store.models.revokeByAccountId(user.id);
    await this.store.consents.forgetAccount(user.id);
    return true;
  }

  list(): Promise<User[]> {
    return this.users.list();
  }

  /** Whether a username names an account (for logs: a failed sign-in names the user only if there is one). */
  async isKnown(username: string): Promise<boolean> {
    return (await this.users.findByUsername(normalizeUsername(username))) !== undefined;
  }

  findById(id: string): Promise<User | undefined> {
    return this.users.findById(id);
  }

  /**
   * On a first start (no users at all) creates `admin`, with `ADMIN_PASSWORD` or a generated
   * password. Returns the generated password so start-up can print it once; undefined otherwise.
   */
  async ensureFirstAdmin(adminPassword: string | undefined): Promise<{ created: boolean; generatedPassword?: string }> {
    if ((await this.users.count()) > 0) return { created: false };
    const password = adminPassword ?? generatePassword();
    const created = await this.users.createIfNone({
      id: randomUUID(),
      username: 'admin',
      displayName: 'Administrator',
      signInMethod: 'password',
      passwordHash: await hashPassword(password, this.hashCost),
    });
    return created && !adminPassword ? { created, generatedPassword: password } : { created };
  }

  /** oidc-provider's `findAccount`: the claims an ID token or userinfo may carry. */
  readonly findAccount: FindAccount = async (_ctx, sub): Promise<Account | undefined> => {
    const user = await this.users.findById(sub);
    if (!user) return undefined;
    return {
      accountId: user.id,
      claims: () => ({ sub: user.id, name: user.displayName, preferred_username: user.username }),
    };
  };
}
