import { asPage, formWithAction, FormBrowser } from '../../support/form-browser.js';
import { openSession, RawOAuthClient, registerRaw, type ServerLike } from '../../support/raw-oauth.js';
import { ADMIN } from '../../support/server-process.js';
import { SseStream } from '../../support/sse-stream.js';
import type { Targets } from './case.js';

/**
 * What a real client holds before the corpus starts, so generated requests reach the handlers
 * behind each check: a token, an MCP session, a legacy stream, a registration to manage, and a
 * sign-in page open in a browser.
 */
export async function prepareTargets(server: ServerLike & { port: number; sseUrl: string }, options: { sessions: boolean; legacy: boolean }): Promise<{ targets: Targets; close(): void }> {
  const client = await RawOAuthClient.registerLoopback(server);
  const tokens = await client.authorize(new FormBrowser(server.url), ADMIN);
  const sessionId = options.sessions ? await openSession(server, tokens.access_token) : undefined;

  let stream: SseStream | undefined;
  let legacySessionId: string | undefined;
  if (options.legacy) {
    // Kept open and read to the end (SseStream reads as events arrive), so the answers /messages
    // cases produce never fill the server's buffer for it.
    stream = await SseStream.open(server.sseUrl, tokens.access_token);
    const endpoint = await stream.next();
    legacySessionId = new URL(endpoint.data, server.url).searchParams.get('sessionId') ?? undefined;
    if (endpoint.event !== 'endpoint' || !legacySessionId) throw new Error(`no endpoint event on /sse: ${JSON.stringify(endpoint)}`);
  }

  const managedAnswer = await registerRaw(server, { client_name: 'corpus: managed registration', redirect_uris: ['http://127.0.0.1:9/callback'], token_endpoint_auth_method: 'none' });
  const managedId = managedAnswer.json?.client_id;
  const managedToken = managedAnswer.json?.registration_access_token;
  if (typeof managedId !== 'string' || typeof managedToken !== 'string') throw new Error(`registration failed: ${managedAnswer.status} ${managedAnswer.text}`);

  // An authorization left at the sign-in page: its uid, the browser's cookies for it, the form's CSRF token.
  const browser = new FormBrowser(server.url);
  const signIn = asPage(await browser.open(client.authorizationRequest().url));
  const uid = /^\/interaction\/([^/]+)$/.exec(signIn.url.pathname)?.[1];
  const csrf = formWithAction(signIn, '/login').fields.csrf;
  if (!uid || !csrf) throw new Error(`no sign-in page: ${signIn.url.href}`);
  const cookie = browser.cookieHeader(new URL(`/interaction/${uid}/login`, server.url));

  return {
    targets: {
      port: server.port,
      accessToken: tokens.access_token,
      sessionId,
      legacySessionId,
      clientId: client.clientId,
      redirectUri: client.redirectUri,
      managed: { clientId: managedId, registrationAccessToken: managedToken },
      interaction: { uid, cookie, csrf },
    },
    close: () => stream?.close(),
  };
}
