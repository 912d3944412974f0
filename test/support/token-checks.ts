import assert from 'node:assert/strict';
import { initializeMessage, mcpRequest, openSession, request, resourceMetadataUrl, toolsCallMessage, type RawResponse, type ServerLike } from './raw-oauth.js';
import { sleep } from './time-limit.js';

/** What the server says about an access token: /introspect (RFC 7662), and whether /mcp accepts it. */

/** POST /introspect (RFC 7662) as the public client `clientId`. */
export function introspect(server: ServerLike, clientId: string, token: string): Promise<RawResponse> {
  return request(`${server.url}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, client_id: clientId }),
  });
}

/** The access token works at /mcp: initialize answers 200 with a result. */
export async function assertTokenAccepted(server: ServerLike, accessToken: string, label = ''): Promise<void> {
  const reply = await mcpRequest(server, accessToken, initializeMessage(1));
  assert.equal(reply.status, 200, `${label} the access token should work at /mcp: ${reply.status} ${reply.text}`);
  assert.ok(reply.message?.result, `${label} initialize result`);
}

/** The answer /mcp gives a token it refuses: 401, Bearer challenge with invalid_token and the resource metadata URL. */
function assertInvalidTokenAnswer(reply: RawResponse, server: ServerLike, label = ''): void {
  assert.equal(reply.status, 401, `${label} expected 401 at /mcp, got ${reply.status}: ${reply.text}`);
  const challenge = reply.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer /, `${label} ${challenge}`);
  assert.match(challenge, /error="invalid_token"/, `${label} ${challenge}`);
  assert.ok(challenge.includes(`resource_metadata="${resourceMetadataUrl(server)}"`), `${label} ${challenge}`);
}

/**
 * The access token is refused at /mcp. Some revocations run on an event after the response that
 * caused them, so this retries for up to `withinMs` before failing.
 */
export async function assertTokenRefused(server: ServerLike, accessToken: string, withinMs = 0, label = ''): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const reply = await mcpRequest(server, accessToken, initializeMessage(1));
    if (reply.status === 401 || Date.now() >= deadline) {
      assertInvalidTokenAnswer(reply, server, label);
      return;
    }
    await sleep(50);
  }
}

/** Who a token belongs to, as the get_user_profile tool says (it needs the profile:read scope). */
export async function profileOf(server: ServerLike, accessToken: string): Promise<{ id: string; username: string; name: string }> {
  const sessionId = await openSession(server, accessToken);
  const reply = await mcpRequest(server, accessToken, toolsCallMessage(2, 'get_user_profile'), { sessionId });
  assert.equal(reply.status, 200, reply.text);
  const result = reply.message?.result as { isError?: boolean; structuredContent?: { id: string; username: string; name: string } } | undefined;
  assert.ok(result && result.isError !== true && result.structuredContent, `get_user_profile: ${reply.text}`);
  return result.structuredContent;
}
