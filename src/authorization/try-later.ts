import { errors, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * temporarily_unavailable (RFC 6749 §4.1.2.1) with the HTTP status that says why, and when to come
 * back: too many document fetches (document-fetches.ts), a database locked by another process
 * (provider-adapter.ts).
 */
export class TryLater extends errors.TemporarilyUnavailable {
  constructor(description: string, status: 429 | 503, readonly retryAfterSeconds: number, options?: { cause?: unknown }) {
    super(description, options);
    this.status = status;
    this.statusCode = status;
  }

  /** Throws it, with its Retry-After on the response when there is one (oidc-provider's context). */
  static refuse(ctx: KoaContextWithOIDC | undefined, description: string, status: 429 | 503, retryAfterSeconds: number, options?: { cause?: unknown }): never {
    ctx?.set('Retry-After', String(retryAfterSeconds));
    throw new TryLater(description, status, retryAfterSeconds, options);
  }
}

/** The Retry-After of a request refused for now, undefined for any other error. */
export function retryAfterSeconds(error: unknown): number | undefined {
  return error instanceof TryLater ? error.retryAfterSeconds : undefined;
}
