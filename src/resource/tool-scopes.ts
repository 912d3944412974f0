import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/**
 * A tool's scope check: undefined when the caller's token carries `scope`, otherwise the tool error
 * to return, naming the missing scope. A tool error (not an HTTP 403) keeps the session and every
 * other tool working.
 */
export function missingScope(extra: { authInfo?: AuthInfo }, scope: string): CallToolResult | undefined {
  const granted = extra.authInfo?.scopes ?? [];
  if (granted.includes(scope)) return undefined;
  return {
    isError: true,
    content: [{
      type: 'text',
      text: `Missing scope "${scope}": this tool needs it, and your access token was granted ${granted.length ? `only "${granted.join(' ')}"` : 'no scopes'}. Sign in again and approve "${scope}".`,
    }],
  };
}
