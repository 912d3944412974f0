/**
 * The security checklist this server is tested against, item by item (the checklist itself lives
 * outside the repository, in the project's shared notes; CI sees only this copy). docs/security.md
 * has one row per item, in this order, with the same requirement and source, naming the tests that
 * check it or saying why it does not apply; test/security/traceability.test.ts holds the two together.
 */
export interface ChecklistItem {
  id: string;
  requirement: string;
  source: string;
}

const BEST_PRACTICES = 'MCP Security Best Practices (2025-11-25)';
const SPEC_2025_11_25 = 'MCP authorization spec 2025-11-25';

export const CHECKLIST_ITEMS: readonly ChecklistItem[] = [
  // Confused deputy (MCP proxy servers MUST).
  { id: 'C1', requirement: 'GET /authorize with a fresh DCR client_id shows server-owned consent; no upstream redirect happens before approval', source: BEST_PRACTICES },
  { id: 'C2', requirement: 'Consent is stored per user + client_id: a second client for the same user is prompted again', source: BEST_PRACTICES },
  { id: 'C3', requirement: 'The consent page names the client, the (upstream) scopes and the registered redirect_uri', source: BEST_PRACTICES },
  { id: 'C4', requirement: "The consent page sends Content-Security-Policy: frame-ancestors 'none' or X-Frame-Options: DENY", source: BEST_PRACTICES },
  { id: 'C5', requirement: 'The consent POST without a valid CSRF token gives 4xx', source: BEST_PRACTICES },
  { id: 'C6', requirement: 'The consent cookie uses the __Host- prefix, is Secure; HttpOnly; SameSite=Lax, is signed, and is bound to the client_id', source: BEST_PRACTICES },
  { id: 'C7', requirement: 'redirect_uri is an exact string match against the registration, except for RFC 8252 loopback ports', source: BEST_PRACTICES },
  { id: 'C8', requirement: 'The upstream state is random, set only after consent, validated exactly at the callback, single-use and expires in about 10 minutes', source: BEST_PRACTICES },
  { id: 'C9', requirement: 'The callback from a different browser, with no binding cookie, is refused', source: `${BEST_PRACTICES}; FastMCP PR #3201` },
  // Token passthrough.
  { id: 'T1', requirement: 'The RS rejects a token whose aud or resource is not its canonical URI', source: BEST_PRACTICES },
  { id: 'T2', requirement: 'The RS rejects a raw upstream IdP token (a GitHub token, a JWT signed by someone else)', source: BEST_PRACTICES },
  { id: 'T3', requirement: "The RS never forwards the client's bearer token to upstream APIs (the tools never see it)", source: BEST_PRACTICES },
  // Session hijacking.
  { id: 'S1', requirement: 'Every request to /mcp is authenticated, even with a valid Mcp-Session-Id', source: BEST_PRACTICES },
  { id: 'S2', requirement: "A session id created by user A and used with user B's token is rejected; session ids are CSPRNG and bound to the user", source: BEST_PRACTICES },
  // SSRF, for every URL the server fetches (client ID metadata documents).
  { id: 'F1', requirement: 'Fetches are https only', source: BEST_PRACTICES },
  { id: 'F2', requirement: 'Private, loopback and link-local addresses are refused, also after DNS resolution', source: BEST_PRACTICES },
  { id: 'F3', requirement: 'Redirects are not followed', source: BEST_PRACTICES },
  { id: 'F4', requirement: 'A size cap and a timeout', source: BEST_PRACTICES },
  { id: 'F5', requirement: 'A JSON content type is required', source: BEST_PRACTICES },
  // Scope minimization.
  { id: 'M1', requirement: 'The PRM scopes_supported is minimal, with no omnibus * or all scope', source: BEST_PRACTICES },
  { id: 'M2', requirement: 'A 403 challenge lists only the scopes the operation needs', source: BEST_PRACTICES },
  { id: 'M3', requirement: 'A down-scoped token is accepted', source: BEST_PRACTICES },
  // RFC 9700 (OAuth 2.0 Security BCP) for an AS with public native clients.
  { id: 'B1', requirement: 'Exact redirect URI matching, with a variable loopback port (RFC 8252 §7.3); an unregistered URI gets 400 and no redirect', source: 'RFC 9700 §2.1, §4.1; RFC 8252 §7.3' },
  { id: 'B2', requirement: 'PKCE is required and only S256 is allowed: missing, plain or a wrong verifier is rejected, no PKCE downgrade; the metadata advertises code_challenge_methods_supported', source: 'RFC 9700 §2.1.1, §4.8' },
  { id: 'B3', requirement: 'No implicit grant, no response_type=token; response_types_supported is ["code"]', source: 'RFC 9700 §2.1.2' },
  { id: 'B4', requirement: 'No ROPC: grant_type=password gives unsupported_grant_type', source: 'RFC 9700 §2.4' },
  { id: 'B5', requirement: 'Codes are single-use and short-lived (≤ 10 min); a replayed code fails and revokes the tokens issued from it; a code is bound to client_id and redirect_uri', source: 'RFC 9700 §4.5' },
  { id: 'B6', requirement: 'Public-client refresh tokens are rotated; reusing an old one outside the grace window revokes the family; they are bound to client, scope and resource', source: 'RFC 9700 §2.2.2, §4.14' },
  { id: 'B7', requirement: 'Access tokens are audience-restricted (RFC 8707 resource → aud); an unknown or mismatched resource gives invalid_target', source: 'RFC 9700 §2.3' },
  { id: 'B8', requirement: 'The authorization response includes iss, and the metadata advertises authorization_response_iss_parameter_supported: true', source: 'RFC 9700 §4.4; RFC 9207' },
  { id: 'B9', requirement: 'No open redirects: errors are redirected only after the client and redirect_uri are validated', source: 'RFC 9700 §4.11' },
  { id: 'B10', requirement: 'The post-consent redirect is 302 or 303, never 307', source: 'RFC 9700 §4.12' },
  { id: 'B11', requirement: 'Clickjacking protection (frame-ancestors) on the login and consent pages', source: 'RFC 9700 §4.16' },
  { id: 'B12', requirement: 'Referrer-Policy: no-referrer on pages that hold codes or state', source: 'RFC 9700 §4.2' },
  { id: 'B13', requirement: 'Public or native clients are not auto-approved without user interaction', source: 'RFC 8252 §8.6' },
  { id: 'B14', requirement: 'Token and registration responses carry Cache-Control: no-store', source: 'RFC 6749 §5.1; RFC 7591 §3.2.1' },
  // MCP authorization spec MUSTs (3.1), where a test is cheap.
  { id: 'R1', requirement: 'Protected-resource metadata (RFC 9728) is served, at the path-inserted well-known URL and the root', source: 'MCP authorization spec 2025-06-18, 2025-11-25' },
  { id: 'R2', requirement: 'A 401 carries WWW-Authenticate with resource_metadata; an invalid token gets 401', source: SPEC_2025_11_25 },
  { id: 'R3', requirement: 'Tokens are accepted only in the Authorization header, never in the query string', source: SPEC_2025_11_25 },
  { id: 'R4', requirement: 'Redirect URIs are loopback or https', source: SPEC_2025_11_25 },
  { id: 'R5', requirement: 'offline_access is advertised by the AS but left out of the PRM', source: 'MCP authorization spec 2026-07-28 (SEP-2207)' },
];
