import type { Adapter, AdapterPayload } from 'oidc-provider';

/**
 * BENCHMARK ONLY. oidc-provider's 7-method storage contract over one in-process Map, for the bare
 * provider (bench/bare-provider.ts): v9 ships no adapter of its own, and storage with no I/O at all
 * is what makes the bare provider a floor. Expired entries read as absent and are dropped when
 * read; nothing sweeps the rest, which a benchmark process of a few hundred dances never notices.
 */
interface Entry {
  payload: AdapterPayload;
  /** Epoch ms; undefined: no expiry. */
  expiresAt: number | undefined;
}

export function memoryAdapter(): new (kind: string) => Adapter {
  const entries = new Map<string, Entry>();
  // Secondary lookups oidc-provider makes: sessions by uid, device codes by user code, tokens by grant.
  const byUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();
  const byGrant = new Map<string, Set<string>>();

  const live = (key: string | undefined): AdapterPayload | undefined => {
    if (key === undefined) return undefined;
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  };

  return class MemoryAdapter implements Adapter {
    constructor(private readonly kind: string) {}

    #key(id: string): string {
      return `${this.kind}:${id}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const key = this.#key(id);
      entries.set(key, { payload, expiresAt: expiresIn > 0 ? Date.now() + expiresIn * 1000 : undefined });
      if (payload.uid) byUid.set(`${this.kind}:${payload.uid}`, key);
      if (payload.userCode) byUserCode.set(`${this.kind}:${payload.userCode}`, key);
      if (payload.grantId) {
        const keys = byGrant.get(payload.grantId) ?? new Set<string>();
        keys.add(key);
        byGrant.set(payload.grantId, keys);
      }
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return live(this.#key(id));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return live(byUid.get(`${this.kind}:${uid}`));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return live(byUserCode.get(`${this.kind}:${userCode}`));
    }

    async consume(id: string): Promise<void> {
      const payload = live(this.#key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      entries.delete(this.#key(id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      for (const key of byGrant.get(grantId) ?? []) entries.delete(key);
      byGrant.delete(grantId);
    }
  };
}
