/**
 * Every scope this server knows, with the words the consent page uses for it. The MCP scopes are
 * what tools require (see mcp.ts); they are what the protected-resource metadata advertises and what
 * a request that names no scope gets.
 */
export const MCP_SCOPES = {
  'uuid:generate': 'Generate UUIDs for you',
  'profile:read': 'See your profile: your user id, your name and how you signed in',
} as const;

export type McpScope = keyof typeof MCP_SCOPES;

/** OpenID Connect scopes the authorization server also understands. */
export const OIDC_SCOPES = {
  openid: 'Know who you are: your user id, name and username',
  offline_access: 'Stay connected without asking you to sign in again',
} as const;

export const mcpScopeNames = Object.keys(MCP_SCOPES) as McpScope[];

/** What the authorization server metadata lists: small and all grantable (Gemini CLI requests exactly these). */
export const advertisedScopes = [...Object.keys(OIDC_SCOPES), ...mcpScopeNames];

const DESCRIPTIONS: Record<string, string> = { ...OIDC_SCOPES, ...MCP_SCOPES };

/** Consent-page wording for a scope; unknown scopes are never granted, so they are not listed. */
export function describeScope(scope: string): string | undefined {
  return DESCRIPTIONS[scope];
}

export function isMcpScope(scope: string): scope is McpScope {
  return Object.hasOwn(MCP_SCOPES, scope);
}
