import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { Consent, ConsentStore } from '../storage/store.js';
import { isMetadataDocumentClient } from './client-metadata-documents.js';
import { isMcpScope, OIDC_SCOPES } from './scopes.js';

type Grant = InstanceType<Provider['Grant']>;

/** What consent needs to know of a client (oidc-provider's Client has it all). */
export interface ConsentClient {
  clientId: string;
  metadata(): Record<string, unknown>;
}

/**
 * What a user's approval of a client described by a metadata document is about: the name the page
 * showed, where codes go, whether it is asked every time (application type), and whether it may
 * stay connected (grant types). Its publisher can change the document at any time (a registration's
 * changes forget its consents, provider-events.ts), so consent is remembered with these values and
 * holds only while they are unchanged. They are public (anyone can fetch the document), so they
 * are stored as they are, and the consent page can say what they were.
 */
export const CONSENT_FIELDS = ['client_name', 'redirect_uris', 'application_type', 'grant_types'] as const;
export type ConsentField = (typeof CONSENT_FIELDS)[number];

/** One consent field of a document that is not what the user approved. */
export interface DocumentChange {
  field: ConsentField;
  approved: unknown;
  now: unknown;
}

/** The consent fields of a document client's metadata, as compared: lists sorted (their order does not count), absent as null; undefined for other clients. */
function fingerprintOf(client: ConsentClient): Record<ConsentField, unknown> | undefined {
  if (!isMetadataDocumentClient(client)) return undefined;
  const metadata = client.metadata();
  const normalized = (value: unknown) => (Array.isArray(value) ? [...value].sort() : value ?? null);
  return Object.fromEntries(CONSENT_FIELDS.map((field) => [field, normalized(metadata[field])])) as Record<ConsentField, unknown>;
}

/**
 * The version of a document client's metadata a consent page shows, carried by its form so that
 * the approval is of what the user saw (the document may be fetched again in between): a short
 * digest per consent field, since the values themselves could outgrow the form's size limit;
 * empty for other clients.
 */
export function shownVersion(client: ConsentClient): string {
  const fingerprint = fingerprintOf(client);
  if (!fingerprint) return '';
  return CONSENT_FIELDS.map((field) => createHash('sha256').update(JSON.stringify(fingerprint[field])).digest('base64url').slice(0, 16)).join('.');
}

/** The consent fields in which `client` is not the version a page showed (every one, when the form did not say). */
export function changedSinceShown(shown: unknown, client: ConsentClient): ConsentField[] {
  const now = shownVersion(client).split('.');
  const then = typeof shown === 'string' ? shown.split('.') : [];
  return isMetadataDocumentClient(client) ? CONSENT_FIELDS.filter((_, index) => then[index] !== now[index]) : [];
}

/** What the consent prompt says is still missing, as oidc-provider reports it. */
export interface MissingConsent {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

/** The same scopes (in any order), time and client fingerprint. */
function sameConsent(a: Consent, b: Consent): boolean {
  return a.grantedAt === b.grantedAt && a.scopes.length === b.scopes.length && a.scopes.every((scope) => b.scopes.includes(scope)) && isDeepStrictEqual(a.clientFingerprint, b.clientFingerprint);
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
 * takes down another. For a client described by a metadata document, consent holds only for the
 * document approved (CONSENT_FIELDS): once its name or redirect URIs change, the user is asked again.
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
    const remembered = await this.#remembered(session.accountId, client);
    if (!remembered) return undefined;
    const grant = new provider.Grant({ accountId: session.accountId, clientId: client.clientId });
    this.#apply(grant, remembered.scopes);
    await grant.save();
    return grant;
  };

  /** Adds what the user just approved of `client` to the grant (new or existing) and remembers it for next time. */
  async approve(grant: Grant, missing: MissingConsent, client: ConsentClient): Promise<string> {
    const adds = missingScopes(missing).length > 0 || (missing.missingOIDCClaims?.length ?? 0) > 0;
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    // A re-authorization confirms a grant just saved from the remembered consent, with nothing
    // missing from it: it is not written again.
    const grantId = grant.jti && !adds ? grant.jti : await grant.save();
    const { accountId } = grant;
    if (accountId && grant.clientId === client.clientId) {
      const previous = await this.#remembered(accountId, client);
      const scopes = [...new Set([...(previous?.scopes ?? []), ...missingScopes(missing)])].filter((scope) => isOidcScope(scope) || isMcpScope(scope));
      const consent: Consent = { accountId, clientId: client.clientId, scopes, grantedAt: previous?.grantedAt ?? Date.now() };
      const fingerprint = fingerprintOf(client);
      if (fingerprint) consent.clientFingerprint = fingerprint;
      // Nor is a consent that says what the stored one already says.
      if (!previous || !sameConsent(previous, consent)) await this.consents.save(consent);
    }
    return grantId;
  }

  /**
   * For a document client the user approved before, within the consent's lifetime, the consent
   * fields its document has changed in since, with what they were and are (none when it has not,
   * or when that is not known: a consent saved before these were remembered).
   */
  async changedSinceApproval(accountId: string, client: ConsentClient): Promise<DocumentChange[]> {
    const fingerprint = fingerprintOf(client);
    if (!fingerprint) return [];
    const approved = (await this.#inForce(accountId, client.clientId))?.clientFingerprint;
    if (!approved) return [];
    return CONSENT_FIELDS.filter((field) => !isDeepStrictEqual(approved[field], fingerprint[field])).map((field) => ({ field, approved: approved[field], now: fingerprint[field] }));
  }

  /** The consent still in force for this client as it is now. */
  async #remembered(accountId: string, client: ConsentClient): Promise<Consent | undefined> {
    const consent = await this.#inForce(accountId, client.clientId);
    const fingerprint = fingerprintOf(client);
    return consent && (!fingerprint || isDeepStrictEqual(consent.clientFingerprint, fingerprint)) ? consent : undefined;
  }

  /** The consent stored, unless it is older than a grant's lifetime (as good as none then). */
  async #inForce(accountId: string, clientId: string): Promise<Consent | undefined> {
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
