/**
 * Versioned schema changes, applied in order, each once, inside one transaction with its record in
 * `schema_migrations`. Append new versions; never edit a released one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'provider models, users, consents, secrets',
    sql: `
      CREATE TABLE oidc_models (
        kind        TEXT NOT NULL,
        id          TEXT NOT NULL,
        payload     TEXT NOT NULL,
        grant_id    TEXT,
        uid         TEXT,
        user_code   TEXT,
        expires_at  INTEGER,
        consumed_at INTEGER,
        PRIMARY KEY (kind, id)
      ) WITHOUT ROWID;
      CREATE INDEX oidc_models_grant_id ON oidc_models (grant_id) WHERE grant_id IS NOT NULL;
      CREATE INDEX oidc_models_uid ON oidc_models (kind, uid) WHERE uid IS NOT NULL;
      CREATE INDEX oidc_models_user_code ON oidc_models (kind, user_code) WHERE user_code IS NOT NULL;
      CREATE INDEX oidc_models_expires_at ON oidc_models (expires_at) WHERE expires_at IS NOT NULL;

      CREATE TABLE users (
        id             TEXT PRIMARY KEY,
        username       TEXT NOT NULL UNIQUE,
        display_name   TEXT NOT NULL,
        sign_in_method TEXT NOT NULL,
        password_hash  TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL
      );

      CREATE TABLE consents (
        account_id TEXT NOT NULL,
        client_id  TEXT NOT NULL,
        scopes     TEXT NOT NULL,
        granted_at INTEGER NOT NULL,
        PRIMARY KEY (account_id, client_id)
      ) WITHOUT ROWID;

      CREATE TABLE secrets (
        name       TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'models by account and by client, for revoking everything of one',
    sql: `
      ALTER TABLE oidc_models ADD COLUMN account_id TEXT;
      ALTER TABLE oidc_models ADD COLUMN client_id TEXT;
      UPDATE oidc_models SET account_id = json_extract(payload, '$.accountId'), client_id = json_extract(payload, '$.clientId');
      CREATE INDEX oidc_models_account_id ON oidc_models (account_id) WHERE account_id IS NOT NULL;
      CREATE INDEX oidc_models_client_id ON oidc_models (client_id) WHERE client_id IS NOT NULL;
    `,
  },
  {
    version: 3,
    name: 'consents remember which version of a metadata document they approved',
    sql: `
      ALTER TABLE consents ADD COLUMN client_fingerprint TEXT;
    `,
  },
  {
    version: 4,
    name: 'registered clients never used expire; failed sign-ins per username',
    sql: `
      ALTER TABLE oidc_models ADD COLUMN created_at INTEGER;
      ALTER TABLE oidc_models ADD COLUMN used_at INTEGER;
      UPDATE oidc_models
        SET created_at = COALESCE(CAST(json_extract(payload, '$.client_id_issued_at') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000)
        WHERE kind = 'Client';
      -- A client registered before this version counts as used if anything was ever issued to it
      -- or a user approved it; only the others can expire.
      UPDATE oidc_models SET used_at = created_at
        WHERE kind = 'Client' AND (
          EXISTS (SELECT 1 FROM oidc_models issued WHERE issued.client_id = oidc_models.id AND issued.kind IN ('Grant', 'AuthorizationCode', 'AccessToken', 'RefreshToken'))
          OR EXISTS (SELECT 1 FROM consents WHERE consents.client_id = oidc_models.id));
      CREATE INDEX oidc_models_unused_clients ON oidc_models (created_at) WHERE kind = 'Client' AND used_at IS NULL;

      CREATE TABLE sign_in_failures (
        key             TEXT PRIMARY KEY,
        failures        INTEGER NOT NULL,
        last_failure_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX sign_in_failures_last ON sign_in_failures (last_failure_at);
    `,
  },
  {
    version: 5,
    name: 'upstream sign-in: identities, states in flight, users without a password',
    sql: `
      -- SQLite cannot drop NOT NULL in place: the users table is rebuilt with every row kept.
      CREATE TABLE users_v5 (
        id             TEXT PRIMARY KEY,
        username       TEXT NOT NULL UNIQUE,
        display_name   TEXT NOT NULL,
        sign_in_method TEXT NOT NULL,
        password_hash  TEXT,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL
      );
      INSERT INTO users_v5 (id, username, display_name, sign_in_method, password_hash, created_at, updated_at)
        SELECT id, username, display_name, sign_in_method, password_hash, created_at, updated_at FROM users;
      DROP TABLE users;
      ALTER TABLE users_v5 RENAME TO users;

      CREATE TABLE upstream_identities (
        provider         TEXT NOT NULL,
        subject          TEXT NOT NULL,
        user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        encrypted_tokens TEXT NOT NULL,
        profile          TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        PRIMARY KEY (provider, subject)
      ) WITHOUT ROWID;
      CREATE INDEX upstream_identities_user ON upstream_identities (user_id);

      CREATE TABLE upstream_states (
        state_hash      TEXT PRIMARY KEY,
        binding_hash    TEXT NOT NULL,
        interaction_uid TEXT NOT NULL,
        provider        TEXT NOT NULL,
        code_verifier   TEXT NOT NULL,
        nonce           TEXT,
        expires_at      INTEGER NOT NULL,
        consumed_at     INTEGER
      ) WITHOUT ROWID;
      CREATE INDEX upstream_states_expires_at ON upstream_states (expires_at);
    `,
  },
];
