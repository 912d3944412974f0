import type { RawRequest } from '../../support/raw-http.js';

/**
 * The protocol an endpoint answers errors in: JSON-RPC (/mcp, /sse, /messages; a 401/403 there is
 * RFC 6750's Bearer challenge), OAuth JSON (the authorization server's API), an HTML page (sign-in
 * and consent, /). `page-or-oauth`: /auth and /session/end, authorization-server endpoints a
 * browser is sent to, where oidc-provider answers a request it can parse with an error page and
 * the server's own checks before it (Host, unknown methods) in OAuth JSON. `any`: a path the
 * generator cannot place (odd encodings of a path), where any of the three formats is right but
 * nothing else (plain text, an empty 4xx).
 */
export type Area = 'mcp' | 'oauth' | 'page' | 'page-or-oauth' | 'any';

/** One generated request and what its answer is judged against. */
export interface Case {
  /** What the counts are kept under, e.g. "POST /token". */
  endpoint: string;
  area: Area;
  request: RawRequest;
  /** Sent instead of `request`'s bytes, exactly (request lines and framing no request object can express). */
  raw?: Buffer;
  /** Bytes Node's HTTP parser may refuse before any route: its 400/431 JSON answer is then right. */
  parserMayRefuse?: boolean;
}

/** What the corpus holds that a real client has: tokens, a session, a registration, a sign-in in progress. */
export interface Targets {
  port: number;
  accessToken: string;
  /** An MCP session opened with accessToken (undefined on a stateless server). */
  sessionId: string | undefined;
  /** A legacy HTTP+SSE session whose stream the corpus keeps open and drains. */
  legacySessionId: string | undefined;
  clientId: string;
  redirectUri: string;
  /** A second registration the corpus may read, change and delete through /register/:id. */
  managed: { clientId: string; registrationAccessToken: string };
  /** An authorization in progress: its interaction uid, the browser's cookies for it, its CSRF token. */
  interaction: { uid: string; cookie: string; csrf: string };
}

/** The request method and path as the counts name them. */
export function endpointOf(method: string, path: string): string {
  return `${method} ${path}`;
}
