import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { Consent, ConsentStore } from '../storage/store.js';
import { isMcpScope, OIDC_SCOPES } from './scopes.js';

type Grant = InstanceType<Provider['Grant']>;

/** What the consent prompt says is still missing, as oidc-provider reports it. */
export interface MissingConsent {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

export function missingScopes(missing: MissingConsent): string[] {
  return [...(missing.missingOIDCScope ?? []), ...Object.values(missing.missingResourceScopes ?? {}).flat()];
}

const isOidcScope = (scope: string) => Object.hasOwn(OIDC_SCOPES, scope);

/**
 * Consent is remembered per user and client (not per browser): the same user authorizing the same
 * client again, from any browser, is not asked again for scopes already approved (clients on the
 * user's machine still confirm, see consent-policy.ts); a different client is always asked.
 * A remembered consent lasts as long as a grant (GRANT_TTL): after that the user approves again.
 * Each authorization gets its own grant, so revoking one (say, after refresh token reuse) never
 * takes down another.
 */
export class ConsentMemory {
  /** `resources`: every resource indicator the MCP scopes apply to (/mcp, and /sse when served). */
  constructor(private readonly consents: ConsentStore, private readonly resources: string[], private readonly lifetimeMs: number) {}

  /**
   * oidc-provider's `loadExistingGrant`: the grant the user approved in this interaction, else a new
   * one rebuilt from remembered consent. Remembered consent is the only memory: a browser session's
   * earlier grant is not reused, so forgetting a consent (a changed registration, a new password)
   * takes effect in every browser.
   */
  readonly loadExistingGrant = async (ctx: KoaContextWithOIDC): Promise<Grant | undefined> => {
    const { client, session, provider } = ctx.oidc;
    if (!client || !session?.accountId) return undefined;
    const grantId = (ctx.oidc.result?.consent as { grantId?: string } | undefined)?.grantId;
    if (grantId) {
      const grant = await provider.Grant.find(grantId);
      if (grant && grant.accountId === session.accountId && grant.clientId === client.clientId) return grant;
    }
    const remembered = await this.#remembered(session.accountId, client.clientId);
    if (!remembered) return undefined;
    const grant = new provider.Grant({ accountId: session.accountId, clientId: client.clientId });
    this.#apply(grant, remembered.scopes);
    await grant.save();
    return grant;
  };

  /** Adds what the user just approved to the grant (new or existing) and remembers it for next time. */
  async approve(grant: Grant, missing: MissingConsent): Promise<string> {
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const { accountId, clientId } = grant;
    if (accountId && clientId) {
      const previous = await this.#remembered(accountId, clientId);
      const scopes = [...new Set([...(previous?.scopes ?? []), ...missingScopes(missing)])].filter((scope) => isOidcScope(scope) || isMcpScope(scope));
      await this.consents.save({ accountId, clientId, scopes, grantedAt: previous?.grantedAt ?? Date.now() });
    }
    return grantId;
  }

  /** The consent still in force; one older than a grant's lifetime is as good as none. */
  async #remembered(accountId: string, clientId: string): Promise<Consent | undefined> {
    const consent = await this.consents.find(accountId, clientId);
    return consent && Date.now() - consent.grantedAt < this.lifetimeMs ? consent : undefined;
  }

  /**
   * Every known scope is also an authorization-server scope (see provider.ts); MCP ones are granted
   * on each MCP resource too: the user approved what the application may do, whichever transport
   * (/mcp or the legacy /sse) it then uses.
   */
  #apply(grant: Grant, scopes: string[]): void {
    const known = scopes.filter((scope) => isOidcScope(scope) || isMcpScope(scope));
    const mcp = scopes.filter(isMcpScope);
    if (known.length) grant.addOIDCScope(known.join(' '));
    if (mcp.length) for (const resource of this.resources) grant.addResourceScope(resource, mcp.join(' '));
  }
}
