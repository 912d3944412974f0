/**
 * The errors this server answers with, each carrying its protocol's own code: OAuth `error` values
 * (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 6750 §3.1) on the authorization side, JSON-RPC codes on
 * `/mcp`, and a setting name for configuration.
 */

/** A bad or missing setting: start-up stops with one line naming it. */
export class ConfigError extends Error {
  constructor(readonly setting: string, detail: string) {
    super(`${setting} ${detail}`);
    this.name = 'ConfigError';
  }
}

/** A start-up failure that is not a setting (data directory unwritable, port taken). */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/**
 * The database stayed locked by another process (a backup, `npm run user`, an sqlite3 shell holding
 * a write transaction) for longer than STORAGE_BUSY_TIMEOUT: the request is answered 503
 * `temporarily_unavailable` with Retry-After, in its protocol's format, never as a 500.
 */
export class StorageBusyError extends Error {
  constructor(readonly waitedMs: number, readonly retryAfterSeconds: number, options?: { cause?: unknown }) {
    super(`the database was locked by another process for ${waitedMs} ms`, options);
    this.name = 'StorageBusyError';
  }
}

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'invalid_target'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'access_denied'
  | 'unsupported_grant_type'
  | 'server_error'
  | 'temporarily_unavailable';

/** An OAuth error answered as `{ error, error_description }` with its HTTP status. */
export class OAuthHttpError extends Error {
  constructor(readonly status: number, readonly error: OAuthErrorCode, readonly description: string) {
    super(description);
    this.name = 'OAuthHttpError';
  }

  body(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}

export const JsonRpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Implementation-defined server errors (-32000 to -32099); the SDK uses these for transport problems. */
  ServerError: -32000,
  SessionNotFound: -32001,
} as const;

export type JsonRpcErrorCode = (typeof JsonRpcCode)[keyof typeof JsonRpcCode];

/** A JSON-RPC error answered over HTTP before a message reaches the MCP server (bad body, bad session). */
export class JsonRpcHttpError extends Error {
  constructor(readonly status: number, readonly code: JsonRpcErrorCode, message: string) {
    super(message);
    this.name = 'JsonRpcHttpError';
  }

  body(): { jsonrpc: '2.0'; error: { code: JsonRpcErrorCode; message: string }; id: null } {
    return { jsonrpc: '2.0', error: { code: this.code, message: this.message }, id: null };
  }
}

/** A page the browser shows (login, consent) refusing a request, e.g. a missing CSRF token. */
export class PageError extends Error {
  constructor(readonly status: number, readonly title: string, detail: string) {
    super(detail);
    this.name = 'PageError';
  }
}

/** Body-parser and http-errors objects carry `status` and `type`; this reads them without trusting their shape. */
export function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const status = (error as { status?: unknown; statusCode?: unknown }).status ?? (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : undefined;
}

/**
 * An upstream identity provider (GitHub, the OIDC provider) could not be reached, timed out, or
 * answered something unusable: the sign-in page says so with 502, never a 500.
 */
export class UpstreamError extends Error {
  constructor(readonly provider: string, detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.name = 'UpstreamError';
  }
}

/** The upstream no longer accepts the stored token (revoked, expired): the user must sign in again. */
export class UpstreamTokenRejectedError extends UpstreamError {
  constructor(provider: string, detail: string) {
    super(provider, detail);
    this.name = 'UpstreamTokenRejectedError';
  }
}
