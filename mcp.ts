import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { missingScope } from './src/resource/tool-scopes.js';
import { userProfileSchema, type ProfileResult } from './src/resource/user-profile.js';
import { VERSION } from './src/version.js';

/**
 * The MCP server and its tools. This is the file to extend: add a tool with one `registerTool` call
 * in `createMcpServer` (start its handler with `missingScope(extra, …)` if it needs a scope).
 * A new server is made per MCP session, again whenever an idle session's dropped server is rebuilt
 * (after replaying what its client negotiated), and per request in stateless mode, so keep
 * expensive setup outside this function, and keep no state a session needs in the server alone:
 * what is not in the client's initialize or logging level is lost when an idle server is dropped.
 */
export const SERVER_INFO = { name: 'UUID MCP Server', version: VERSION };

/** What the tools may ask of the rest of the server. */
export interface ToolContext {
  /** Who is behind a token, by subject (account id): their local, GitHub (fetched now) or OIDC profile. */
  userProfile(subject: string): Promise<ProfileResult>;
}

// One JSON-schema validator for every server instance: building Ajv per server is most of a server's cost.
const validator = new AjvJsonSchemaValidator();

// Tool definitions (their zod schemas especially) are built once and shared by every server: built
// per server they were most of an idle session's memory and of a stateless request's set-up.
const GENERATE_UUID = {
  title: 'Generate UUID',
  description: 'Generate one or more UUIDs: v4 (random, the default) or v7 (time-ordered, sortable by creation time).',
  inputSchema: z.object({
    version: z.enum(['v4', 'v7']).optional().describe('UUID version: "v4" (random) or "v7" (time-ordered). Default "v4".'),
    count: z.number().int().min(1).max(100).optional().describe('How many UUIDs to generate, 1 to 100. Default 1.'),
  }),
  outputSchema: z.object({
    version: z.enum(['v4', 'v7']),
    uuids: z.array(z.string()),
  }),
  annotations: { readOnlyHint: true, openWorldHint: false },
};

const GET_USER_PROFILE = {
  title: 'Get user profile',
  description: 'Who is signed in and how: for GitHub, their GitHub profile (login, name, avatar, repositories, followers…); for an OpenID Connect provider, its claims; for a local account, the username.',
  outputSchema: userProfileSchema,
  // Open world: for a GitHub user it reads GitHub's API.
  annotations: { readOnlyHint: true, openWorldHint: true },
};

export function createMcpServer(context: ToolContext): McpServer {
  const server = new McpServer(SERVER_INFO, { jsonSchemaValidator: validator });

  server.registerTool('generate_uuid', GENERATE_UUID,
    async ({ version = 'v4', count = 1 }, extra) => {
      const denied = missingScope(extra, 'uuid:generate');
      if (denied) return denied;
      const generate = version === 'v7' ? uuidv7 : uuidv4;
      const uuids = Array.from({ length: count }, () => generate());
      return {
        content: [{ type: 'text', text: uuids.join('\n') }],
        structuredContent: { version, uuids },
      };
    },
  );

  server.registerTool('get_user_profile', GET_USER_PROFILE,
    async (extra) => {
      const denied = missingScope(extra, 'profile:read');
      if (denied) return denied;
      const subject = extra.authInfo?.extra?.subject;
      const found = typeof subject === 'string' ? await context.userProfile(subject) : { error: 'This token names no user.' };
      if ('error' in found) return { isError: true, content: [{ type: 'text', text: found.error }] };
      const profile = found.profile;
      const who = profile.signedInWith === 'github' ? `${profile.name ?? profile.login} (GitHub: ${profile.login}, ${profile.profileUrl})`
        : profile.signedInWith === 'oidc' ? `${profile.name ?? profile.email ?? profile.subject} (signed in with ${profile.issuer})`
          : `${profile.name} (${profile.username}, local account)`;
      return {
        content: [{ type: 'text', text: `${who}, user id ${profile.id}\n${JSON.stringify(profile, null, 2)}` }],
        structuredContent: profile,
      };
    },
  );

  return server;
}
