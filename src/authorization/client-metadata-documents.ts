import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config.js';
import { FetchRefused, safeFetch, type RefusalKind, type SafeFetchInit } from '../http/safe-fetch.js';
import type { Logger } from '../log.js';
import { clientMetadataRefusal, normalizeClientMetadata } from './registration.js';

type Client = Parameters<NonNullable<CimdFeature['allowClient']>>[1];
type CimdFeature = NonNullable<NonNullable<Configuration['features']>['clientIdMetadataDocument']>;

/** Real documents (Claude Code's, VS Code's) are under 2 KiB. */
const METADATA_DOCUMENT_MAX_BYTES = 5 * 1024;
/** The same bound oidc-provider puts on each of its fetches (it aborts its own signal at 2.5 s). */
const METADATA_DOCUMENT_TIMEOUT_MS = 2500;
/** A document is fetched again after its Cache-Control max-age, kept within these bounds (seconds). */
const CACHE_SECONDS = { min: 5 * 60, max: 24 * 3600 };
/** A URL whose fetch failed is not fetched again for this long, and this many such URLs are remembered. */
const FAILURE_MEMORY = { ms: 30_000, entries: 1000 };

const DOCUMENT_PURPOSE = 'client_id metadata document';
/** oidc-provider's description when a document could not be fetched or read. */
const FETCH_FAILED = `${DOCUMENT_PURPOSE} fetch failed`;

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-02; the MCP
 * 2025-11-25 spec's preferred registration): a client whose `client_id` is an https URL needs no
 * registration, the server fetches its metadata from that URL. oidc-provider's experimental
 * feature does the protocol (https client ids only, status 200, `client_id` equality, no shared
 * secrets, an LRU cache of documents with single-flight fetching). What it leaves to the server:
 * - how documents are fetched: safe-fetch.ts (SSRF policy, size cap, timeout, JSON only);
 * - what a document may say: the same rewrites and refusals as a registration body
 *   (registration.ts), so Claude Code's and VS Code's portless loopback redirect URIs make them
 *   native clients matched on any port (RFC 8252 §7.3), and plain-http web redirects are refused.
 *   A document that names no token endpoint auth method is a public client (`none`): it cannot
 *   carry a secret, and oidc-provider's default would require one.
 * Refusals reach the client as OAuth errors (`invalid_client`, `invalid_client_metadata`,
 * `invalid_redirect_uri`); the log names the host only.
 */
export function clientMetadataDocuments(config: Config, log: Logger, knownScopes: readonly string[]) {
  const policyFetch = safeFetch({
    maxBytes: METADATA_DOCUMENT_MAX_BYTES,
    timeoutMs: METADATA_DOCUMENT_TIMEOUT_MS,
    allowLoopback: config.testOnlyCimdAllowLoopback,
  });

  // oidc-provider caches documents, not failures, and tries a failed client_id twice per
  // authorization request (its error handler looks the client up again). Remembering failures a
  // little while keeps a slow or broken site from costing each request twice the time limit, and
  // keeps this server from being used to hit a site over and over.
  const failures = new Map<string, { until: number; outcome: Error | number }>();
  const remember = (url: string, outcome: Error | number) => {
    if (failures.size >= FAILURE_MEMORY.entries) failures.delete(failures.keys().next().value!);
    failures.set(url, { until: Date.now() + FAILURE_MEMORY.ms, outcome });
  };

  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    const host = URL.parse(url)?.host ?? 'invalid URL';
    const failed = failures.get(url);
    if (failed && failed.until > Date.now()) {
      if (typeof failed.outcome === 'number') return new Response(null, { status: failed.outcome });
      throw failed.outcome;
    }
    failures.delete(url);
    let response: Response;
    try {
      response = await policyFetch(url, init as SafeFetchInit | undefined);
    } catch (error) {
      log.warn('client_metadata.fetch_refused', { host, reason: error instanceof Error ? error.message : String(error) });
      remember(url, error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    if (response.status !== 200) {
      log.warn('client_metadata.fetch_refused', { host, reason: `HTTP ${response.status}` });
      remember(url, response.status);
      return response;
    }
    log.info('client_metadata.fetched', { host });
    return normalizedDocument(response, url, knownScopes);
  };

  const feature: CimdFeature = {
    enabled: config.clientIdMetadataDocuments,
    ack: 'draft-02',
    cacheDuration: CACHE_SECONDS,
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
    // Nothing else is ever fetched: registration refuses `sector_identifier_uri` and `jwks_uri`,
    // and so does allowClient for a document, but oidc-provider would fetch a document's
    // sector_identifier_uri while building the client, before allowClient runs.
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

/** The host a client's metadata document was fetched from, for clients that have one. */
export function metadataDocumentHost(client: { clientId: string } | undefined): string | undefined {
  if (!client || !(client as { clientIdMetadataDocument?: boolean }).clientIdMetadataDocument) return undefined;
  return URL.parse(client.clientId)?.host;
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
