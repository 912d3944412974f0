import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config.js';
import { FetchRefused, safeFetch, type RefusalKind, type SafeFetchInit } from '../http/safe-fetch.js';
import type { Logger } from '../log.js';
import { DocumentFetches } from './document-fetches.js';
import { clientMetadataRefusal, normalizeClientMetadata } from './registration.js';

type Client = Parameters<NonNullable<CimdFeature['allowClient']>>[1];
type CimdFeature = NonNullable<NonNullable<Configuration['features']>['clientIdMetadataDocument']>;

/** Real documents (Claude Code's, VS Code's) are under 2 KiB. */
const METADATA_DOCUMENT_MAX_BYTES = 5 * 1024;
/** The same bound oidc-provider puts on each of its fetches (it aborts its own signal at 2.5 s). */
const METADATA_DOCUMENT_TIMEOUT_MS = 2500;
/**
 * A document is fetched again after its Cache-Control max-age, kept within these bounds (seconds).
 * A changed document takes effect after at most an hour (consent follows it, see consent.ts).
 */
const CACHE_SECONDS = { min: 5 * 60, max: 3600 };
/**
 * Fetches in progress at once; a URL is not fetched again for 30 s (1000 remembered): a failure
 * or a document that cannot be used (which oidc-provider does not cache) answers from memory.
 */
const FETCH_LIMITS = { concurrent: 8, memory: { ms: 30_000, entries: 1000 } };

const DOCUMENT_PURPOSE = 'client_id metadata document';
/** oidc-provider's description when a document could not be fetched or read. */
const FETCH_FAILED = `${DOCUMENT_PURPOSE} fetch failed`;

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-02; the MCP
 * 2025-11-25 spec's preferred registration): a client whose `client_id` is an https URL needs no
 * registration, the server fetches its metadata from that URL. oidc-provider's experimental
 * feature does the protocol (https client ids only, status 200, `client_id` equality, no shared
 * secrets, an LRU cache of documents with single-flight fetching). What it leaves to the server:
 * - which documents are fetched, how many at once and how often: document-fetches.ts (its
 *   `allowFetch`, and the `fetch` oidc-provider is given, which fetches nothing else);
 * - how a document is fetched: safe-fetch.ts (SSRF policy, size cap, timeout, JSON only);
 * - what a document may say: the same normalization and refusals as a registration body
 *   (registration.ts), so Claude Code's and VS Code's portless loopback redirect URIs make them
 *   native clients matched on any port (RFC 8252 §7.3), and plain-http web redirects are refused.
 *   A document that names no token endpoint auth method is a public client (`none`): it cannot
 *   carry a secret, and oidc-provider's default would require one.
 * Refusals reach the client as OAuth errors (`invalid_client`, `invalid_client_metadata`,
 * `invalid_redirect_uri`, `temporarily_unavailable`); the log has the host and the reason.
 */
export function clientMetadataDocuments(config: Config, log: Logger, knownScopes: readonly string[]) {
  const fetches = new DocumentFetches({
    publicUrl: config.publicUrl,
    allowLoopback: config.testOnlyCimdAllowLoopback,
    limits: { ...FETCH_LIMITS, perAddressPerMinute: config.cimdFetchRateLimit },
    fetch: safeFetch({
      maxBytes: METADATA_DOCUMENT_MAX_BYTES,
      timeoutMs: METADATA_DOCUMENT_TIMEOUT_MS,
      allowLoopback: config.testOnlyCimdAllowLoopback,
    }),
    log,
  });

  // oidc-provider hands its own RequestInit (with an undici dispatcher safe-fetch has no use for).
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    const response = await fetches.fetch(url, init as SafeFetchInit | undefined);
    return response.status === 200 ? normalizedDocument(response, url, knownScopes) : response;
  };

  const feature: CimdFeature = {
    enabled: config.clientIdMetadataDocuments,
    ack: 'draft-02',
    cacheDuration: CACHE_SECONDS,
    allowFetch: fetches.allowFetch,
    // Runs every time such a client is used, cached or not.
    allowClient: async (_ctx: KoaContextWithOIDC, client: Client) => {
      const refusal = clientMetadataRefusal(client.metadata());
      if (refusal) {
        log.warn('client_metadata.refused', { host: URL.parse(client.clientId)?.host, reason: refusal.description });
        // oidc-provider names the error from the description: invalid_redirect_uri for redirect_uris.
        throw new errors.InvalidClientMetadata(refusal.description);
      }
      return true;
    },
  };

  return {
    feature,
    fetch,
    // The cap is enforced on the wire by safe-fetch; oidc-provider checks again on the document as
    // rewritten here, which may be a few bytes longer.
    fetchResponseBodyLimits: { [DOCUMENT_PURPOSE]: METADATA_DOCUMENT_MAX_BYTES + 1024, jwks_uri: 0, sector_identifier_uri: 0 },
    // Nothing else is ever fetched (`fetch` refuses what allowFetch did not admit): registration
    // refuses `sector_identifier_uri` and `jwks_uri`, and so does allowClient for a document, but
    // oidc-provider would fetch a document's sector_identifier_uri while building the client, before
    // allowClient runs.
    sectorIdentifierUriValidate: () => false,
  } satisfies { feature: CimdFeature } & Pick<Configuration, 'fetch' | 'fetchResponseBodyLimits' | 'sectorIdentifierUriValidate'>;
}

/** The document as oidc-provider should read it; anything that is not a document for `url` is passed on for it to refuse. */
async function normalizedDocument(response: Response, url: string, knownScopes: readonly string[]): Promise<Response> {
  const text = await response.text();
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return new Response(text, { status: response.status, headers });
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document) || (document as { client_id?: unknown }).client_id !== url) {
    return new Response(text, { status: response.status, headers });
  }
  const metadata = normalizeClientMetadata(document as Record<string, unknown>, knownScopes);
  metadata.token_endpoint_auth_method ??= 'none';
  return new Response(JSON.stringify(metadata), { status: response.status, headers });
}

/** Whether oidc-provider built this client from a metadata document (its client_id is that document's URL). */
export function isMetadataDocumentClient(client: { clientId: string } | undefined): boolean {
  return (client as { clientIdMetadataDocument?: boolean } | undefined)?.clientIdMetadataDocument === true;
}

/** Why a client's metadata document could not be used, in the categories an error page may show. */
export type DocumentProblem = { kind: RefusalKind | 'unreadable' } | { kind: 'status'; status: number };

/**
 * The problem behind oidc-provider's "client_id metadata document fetch failed", undefined for any
 * other error: it keeps what safe-fetch threw as the error's cause, the HTTP status in its
 * `error_detail`, and a body it could not parse or found too large as a cause of its own.
 */
export function documentProblem(error: unknown): DocumentProblem | undefined {
  if (!(error instanceof errors.InvalidClient) || error.error_description !== FETCH_FAILED) return undefined;
  const { cause } = error as { cause?: unknown };
  if (cause instanceof FetchRefused) return { kind: cause.kind };
  if (cause instanceof SyntaxError) return { kind: 'not JSON' };
  if (cause instanceof Error && cause.message === 'response too large') return { kind: 'too large' };
  const status = /^unexpected response status (\d{3})$/.exec(String((error as { error_detail?: unknown }).error_detail))?.[1];
  return status ? { kind: 'status', status: Number(status) } : { kind: 'unreadable' };
}
