import type { FormBrowser } from './form-browser.js';
import { type Person, signInAndAllow } from './person-at-browser.js';
import { mcpRequest, initializeMessage, RawOAuthClient, registerRaw, request, tokensOf, type ServerLike, type Tokens } from './raw-oauth.js';

/**
 * The client side of a crash test: clients doing real work against a server (registrations, code
 * exchanges, refreshes), and a log of every result the server acknowledged (a success response
 * received in full). After the server is killed and started again, `check*` asks the new process
 * about each logged result. Requests that failed or never got an answer are not in the log: the
 * server may or may not have done them, and nobody was told either way.
 */

/** A refresh-token chain: one grant, its tokens in the order they were acknowledged. */
export interface Chain {
  client: RawOAuthClient;
  /** Acknowledged access tokens, with when they expire (ms since the epoch). */
  accessTokens: { token: string; expiresAt: number }[];
  /** Acknowledged refresh tokens, oldest first: the last one is current, the others were rotated out. */
  refreshTokens: string[];
  /** A refresh of this chain is under way (one at a time: two would trip the reuse rules). */
  busy: boolean;
}

export interface AcknowledgedRegistration {
  clientId: string;
  registrationAccessToken: string;
  registrationClientUri: string;
}

export class AcknowledgedLog {
  readonly registrations: AcknowledgedRegistration[] = [];
  readonly chains: Chain[] = [];
  exchanges = 0;
  refreshes = 0;

  /** Acknowledged results so far: registrations and token responses (each gave one refresh token). */
  get size(): number {
    return this.registrations.length + this.chains.reduce((sum, chain) => sum + chain.refreshTokens.length, 0);
  }

  /** A new chain from a token response the server acknowledged. */
  addChain(client: RawOAuthClient, tokens: Tokens): Chain {
    const chain: Chain = { client, accessTokens: [], refreshTokens: [], busy: false };
    this.record(chain, tokens);
    this.chains.push(chain);
    return chain;
  }

  record(chain: Chain, tokens: Tokens): void {
    chain.accessTokens.push({ token: tokens.access_token, expiresAt: Date.now() + tokens.expires_in * 1000 });
    chain.refreshTokens.push(tokens.refresh_token);
  }
}

/** What a burst client does over and over until `stopped()`; an error once stopped is the kill, not a failure. */
export interface BurstContext {
  server: ServerLike;
  log: AcknowledgedLog;
  stopped(): boolean;
  /** Operations that failed because the server was killed under them (a request without an answer). */
  cutByKill: number;
}

async function untilStopped(context: BurstContext, step: () => Promise<void>): Promise<void> {
  while (!context.stopped()) {
    try {
      await step();
    } catch (error) {
      if (!context.stopped()) throw error;
      context.cutByKill += 1;
    }
  }
}

/** Dynamic registrations (RFC 7591); each 201 is logged. */
export function registering(context: BurstContext, label: string): Promise<void> {
  let n = 0;
  return untilStopped(context, async () => {
    n += 1;
    const answer = await registerRaw(context.server, { client_name: `${label} ${n}`, redirect_uris: ['http://127.0.0.1:9/callback'], token_endpoint_auth_method: 'none' });
    if (answer.status !== 201) throw new Error(`registration: ${answer.status} ${answer.text}`);
    const body = answer.json as { client_id: string; registration_access_token: string; registration_client_uri: string };
    context.log.registrations.push({ clientId: body.client_id, registrationAccessToken: body.registration_access_token, registrationClientUri: body.registration_client_uri });
  });
}

/** Authorization codes (consent through the real form, the browser already signed in) exchanged for tokens; each grant is logged as a new chain. */
export function exchanging(context: BurstContext, client: RawOAuthClient, browser: FormBrowser, person: Person): Promise<void> {
  return untilStopped(context, async () => {
    const authRequest = client.authorizationRequest();
    const callback = await signInAndAllow(browser, authRequest.url, person);
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`no code: ${callback.href}`);
    const tokens = tokensOf(await client.exchange(code, authRequest.verifier));
    context.log.addChain(client, tokens);
    context.log.exchanges += 1;
  });
}

/** Refreshes of the logged chains, each chain one at a time; each new pair is logged on its chain. */
export function refreshing(context: BurstContext): Promise<void> {
  return untilStopped(context, async () => {
    const chain = context.log.chains.find((candidate) => !candidate.busy);
    if (!chain) throw new Error('no chain to refresh: start the burst with at least as many chains as refreshing clients');
    chain.busy = true;
    // To the back of the queue: the chains take turns.
    context.log.chains.splice(context.log.chains.indexOf(chain), 1);
    context.log.chains.push(chain);
    try {
      const tokens = tokensOf(await chain.client.refresh(chain.refreshTokens.at(-1)!));
      context.log.record(chain, tokens);
      context.log.refreshes += 1;
    } finally {
      chain.busy = false;
    }
  });
}

/** RFC 7592: the registration is still there, read with its registration access token. */
export async function registrationExists(server: ServerLike, registration: AcknowledgedRegistration): Promise<boolean> {
  const answer = await request(registration.registrationClientUri, { headers: { authorization: `Bearer ${registration.registrationAccessToken}` } });
  if (answer.status === 200 && answer.json?.client_id === registration.clientId) return true;
  if (answer.status === 401) return false;
  throw new Error(`GET ${registration.registrationClientUri} on ${server.url}: ${answer.status} ${answer.text}`);
}

/** The token is accepted at /mcp: initialize opens a session (which is then ended); a 401 means refused. */
export async function acceptedAtMcp(server: ServerLike, token: string): Promise<boolean> {
  const init = await mcpRequest(server, token, initializeMessage(1));
  if (init.status === 401) return false;
  if (init.status !== 200 || !init.sessionId) throw new Error(`initialize: ${init.status} ${init.text}`);
  const ended = await mcpRequest(server, token, undefined, { method: 'DELETE', sessionId: init.sessionId });
  if (ended.status >= 300) throw new Error(`DELETE /mcp: ${ended.status} ${ended.text}`);
  return true;
}
