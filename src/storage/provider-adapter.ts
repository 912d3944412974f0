import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider';
import { TryLater } from '../authorization/try-later.js';
import { StorageBusyError } from '../errors.js';
import type { ModelStore, StoredModel } from './store.js';

export interface ProviderAdapterOptions {
  /**
   * Per model kind, how long after its first use a consumed model still reads as unused. For
   * refresh tokens this is the reuse grace window: two processes of one client refreshing with the
   * same token at once both succeed, instead of the second one revoking the whole grant.
   */
  consumedGraceMs?: Partial<Record<string, number>>;
}

export type ProviderAdapterClass = new (kind: string) => Adapter;

/**
 * A database locked past STORAGE_BUSY_TIMEOUT becomes oidc-provider's temporarily_unavailable with
 * status 503 and Retry-After (set on the request oidc-provider is answering, when there is one; the
 * sign-in pages read it from the error), instead of the 500 server_error it makes of other errors.
 */
async function busyAsTryLater<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof StorageBusyError)) throw error;
    TryLater.refuse(Provider.ctx, 'the server is busy; try again shortly', 503, error.retryAfterSeconds, { cause: error });
  }
}

/** oidc-provider's storage contract (its 7 adapter methods) over our Store, whichever backend it is. */
export function providerAdapter(models: ModelStore, options: ProviderAdapterOptions = {}): ProviderAdapterClass {
  const grace = options.consumedGraceMs ?? {};

  const present = (kind: string, stored: StoredModel | undefined): AdapterPayload | undefined => {
    if (!stored) return undefined;
    const payload = stored.payload as AdapterPayload;
    if (stored.consumedAt !== undefined && Date.now() - stored.consumedAt >= (grace[kind] ?? 0)) {
      payload.consumed = Math.floor(stored.consumedAt / 1000);
    }
    return payload;
  };

  return class StoreAdapter implements Adapter {
    constructor(private readonly kind: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const expiresAt = typeof expiresIn === 'number' && expiresIn > 0 ? Date.now() + expiresIn * 1000 : undefined;
      await busyAsTryLater(models.upsert(this.kind, id, payload as Record<string, unknown>, expiresAt));
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return present(this.kind, await busyAsTryLater(models.find(this.kind, id)));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return present(this.kind, await busyAsTryLater(models.findByUid(this.kind, uid)));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return present(this.kind, await busyAsTryLater(models.findByUserCode(this.kind, userCode)));
    }

    async consume(id: string): Promise<void> {
      await busyAsTryLater(models.consume(this.kind, id));
    }

    async destroy(id: string): Promise<void> {
      await busyAsTryLater(models.destroy(this.kind, id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await busyAsTryLater(models.revokeByGrantId(grantId));
    }
  };
}
