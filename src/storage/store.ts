/**
 * What the rest of the server may ask of storage. Every backend (SQLite now, PostgreSQL next)
 * implements exactly this; nothing outside `src/storage/<backend>/` knows which one is in use.
 *
 * Methods are async even where SQLite answers synchronously, so a networked backend fits; the one
 * exception, `ModelStore.findAccessToken`, may answer either way (MaybePromise), so the bearer
 * check on every MCP request needs no promise when the answer is at hand.
 * Times are epoch milliseconds.
 */

/** A stored oidc-provider model (Client, Grant, Session, AccessToken, RefreshToken, …). */
export type ModelPayload = Record<string, unknown>;

export interface StoredModel {
  payload: ModelPayload;
  /** When it was first consumed (codes, refresh tokens), if it was. */
  consumedAt: number | undefined;
}

/** A value, or for a backend that cannot answer at once, its promise. */
export type MaybePromise<T> = T | Promise<T>;

/** What the bearer check needs of a stored access token (oidc-provider's AccessToken payload). */
export interface AccessTokenFacts {
  accountId: string | null;
  clientId: string | null;
  /** Space-separated scopes. */
  scope: string | null;
  /** The resource it was issued for; anything but a string (an array, say) is never an audience here. */
  aud: unknown;
  /** Expiry, epoch seconds. */
  exp: unknown;
}

export interface ModelStore {
  /** Inserts or replaces. `expiresAt` undefined means it never expires (registered clients). */
  upsert(kind: string, id: string, payload: ModelPayload, expiresAt: number | undefined): Promise<void>;
  /** Undefined when absent or expired. */
  find(kind: string, id: string): Promise<StoredModel | undefined>;
  /**
   * The bearer check, on every MCP request: the access token `id`, undefined when absent or
   * expired. The one method that may answer synchronously (SQLite does, unless the database is
   * busy): a promise per call is most of what a lookup costs there. A networked backend returns one.
   */
  findAccessToken(id: string): MaybePromise<AccessTokenFacts | undefined>;
  findByUid(kind: string, uid: string): Promise<StoredModel | undefined>;
  findByUserCode(kind: string, userCode: string): Promise<StoredModel | undefined>;
  /** Marks it consumed; a second call keeps the first time (the refresh grace window counts from it). */
  consume(kind: string, id: string): Promise<void>;
  destroy(kind: string, id: string): Promise<void>;
  /** Removes every model issued under the grant (tokens, codes, the grant itself). */
  revokeByGrantId(grantId: string): Promise<void>;
  /** Removes everything of one account: browser sessions, grants, codes and tokens. */
  revokeByAccountId(accountId: string): Promise<void>;
  /** Removes every grant, code and token issued to one client (not its registration). */
  revokeByClientId(clientId: string): Promise<void>;
  /** Removes what expired before `now`; returns how many. */
  deleteExpired(now: number): Promise<number>;
  /**
   * Deletes up to `limit` registered clients (kind Client) registered before `registeredBefore`
   * for which no Grant was ever saved, with everything issued to them (registration access
   * tokens); returns their ids. Saving a Grant marks its client used, for good.
   */
  deleteUnusedClients(registeredBefore: number, limit: number): Promise<string[]>;
}

export interface User {
  id: string;
  /** Lower-case sign-in name, unique. */
  username: string;
  displayName: string;
  /** How this account signs in: a local password, or an upstream identity provider. */
  signInMethod: SignInMethod;
  /** Null for upstream users: password sign-in never works for them. */
  passwordHash: string | null;
  createdAt: number;
  updatedAt: number;
}

export type SignInMethod = 'password' | UpstreamProvider;

export type NewUser = Omit<User, 'createdAt' | 'updatedAt'>;

export class UsernameTakenError extends Error {
  constructor(readonly username: string) {
    super(`a user named "${username}" already exists`);
    this.name = 'UsernameTakenError';
  }
}

export interface UserStore {
  count(): Promise<number>;
  list(): Promise<User[]>;
  findById(id: string): Promise<User | undefined>;
  findByUsername(username: string): Promise<User | undefined>;
  /** Throws UsernameTakenError when the name is in use. */
  create(user: NewUser): Promise<User>;
  /** Creates the user only when there are no users at all; false when some already existed (another instance won). */
  createIfNone(user: NewUser): Promise<boolean>;
  /** False for an unknown user and for an upstream user (who has no password). */
  setPasswordHash(id: string, passwordHash: string): Promise<boolean>;
}

export type UpstreamProvider = 'github' | 'oidc';

/** A user's account at an upstream identity provider, linked by the provider's own subject. */
export interface UpstreamIdentity {
  provider: UpstreamProvider;
  /** GitHub's numeric user id; for OIDC, `{issuer} {sub}` (a sub is unique only within its issuer). */
  subject: string;
  userId: string;
  /** The upstream tokens, encrypted (upstream/token-cipher.ts); never in clear in storage. */
  encryptedTokens: string;
  /** The upstream profile or claims as last seen at sign-in. */
  profile: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

/** What a successful upstream sign-in brings: who (provider, subject), as whom, and the encrypted tokens. */
export interface UpstreamLink {
  provider: UpstreamProvider;
  subject: string;
  /** Wanted username; if another account holds it, a suffix is added. */
  username: string;
  displayName: string;
  encryptedTokens: string;
  profile: Record<string, unknown>;
  /** Id for the user when this identity is new. */
  newUserId: string;
}

export interface UpstreamIdentityStore {
  /**
   * In one transaction: the user linked to (provider, subject), with its username, display name,
   * tokens and profile updated; or a new upstream user linked to it. Returns the user and whether it was created.
   */
  signIn(signIn: UpstreamLink): Promise<{ user: User; created: boolean }>;
  findByUser(userId: string): Promise<UpstreamIdentity | undefined>;
}

/** An upstream authorization request in flight, keyed by a hash of its `state`. */
export interface UpstreamState {
  stateHash: string;
  /** Hash of the value in the browser's binding cookie. */
  bindingHash: string;
  interactionUid: string;
  provider: UpstreamProvider;
  codeVerifier: string;
  nonce: string | undefined;
  expiresAt: number;
  consumedAt: number | undefined;
}

export interface UpstreamStateStore {
  save(state: Omit<UpstreamState, 'consumedAt'>): Promise<void>;
  /** The state, expired or consumed ones included (so the caller can say which), or undefined. */
  find(stateHash: string): Promise<UpstreamState | undefined>;
  /** Marks it used; false when it already was or has expired (another request won). */
  consume(stateHash: string, now: number): Promise<boolean>;
  /** Removes states that expired before `now`; returns how many. */
  deleteExpired(now: number): Promise<number>;
}

/** A user's remembered approval of a client: the scopes they agreed to, for one resource. */
export interface Consent {
  accountId: string;
  clientId: string;
  scopes: string[];
  grantedAt: number;
  /** For a client described by a metadata document: its consent fields in the document approved, normalized (consent.ts). */
  clientFingerprint?: Record<string, unknown>;
}

export interface ConsentStore {
  find(accountId: string, clientId: string): Promise<Consent | undefined>;
  save(consent: Consent): Promise<void>;
  forgetAccount(accountId: string): Promise<void>;
  forgetClient(clientId: string): Promise<void>;
}

/** Server secrets (signing keys, cookie keys) created once and shared by every instance. */
export interface SecretStore {
  /**
   * The stored value, or `create()`'s value stored now. When two instances race, both get the
   * winner's value. `create` may be asynchronous (a key pair generated off the event loop).
   */
  getOrCreate(name: string, create: () => string | Promise<string>): Promise<string>;
}

/** How failed sign-ins for one key (a username) turn into a wait, for `SignInFailureStore.beginAttempt`. */
export interface BackoffPolicy {
  /** How long after the latest failure the next attempt must wait, given how many failures there are. */
  waitMs(failures: number): number;
  /** Failures older than this are forgotten: counting starts again. */
  forgetAfterMs: number;
}

export type AttemptVerdict = { allowed: true } | { allowed: false; retryAt: number };

/** Failed sign-ins per username, kept across restarts so a restart does not reset an attacker's wait. */
export interface SignInFailureStore {
  /**
   * Atomically: refuses when the key is still waiting; otherwise counts this attempt as a failure
   * (taken back by `succeeded`), so attempts sent at once cannot all pass before any has failed.
   */
  beginAttempt(key: string, now: number, policy: BackoffPolicy): Promise<AttemptVerdict>;
  /** A correct password: the key starts from nothing again. */
  succeeded(key: string): Promise<void>;
  /** Removes keys whose latest failure is before `before`; returns how many. */
  forgetBefore(before: number): Promise<number>;
}

export interface Store {
  readonly models: ModelStore;
  readonly users: UserStore;
  readonly consents: ConsentStore;
  readonly secrets: SecretStore;
  readonly signInFailures: SignInFailureStore;
  readonly upstreamIdentities: UpstreamIdentityStore;
  readonly upstreamStates: UpstreamStateStore;
  /** Throws when storage cannot answer (used by /healthz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
