import { performance } from 'node:perf_hooks';
import { asPage, FormBrowser, formWithAction, type Visit } from '../test/support/form-browser.js';
import { freePort } from '../test/support/free-port.js';
import type { Person } from '../test/support/person-at-browser.js';
import { initializedNotification, initializeMessage, mcpRequest, RawOAuthClient, request, tokensOf, toolsCallMessage, type ServerLike, type Tokens } from '../test/support/raw-oauth.js';

/**
 * What an MCP client and its user do, step by step, from a bare /mcp URL to the first tool result,
 * over real HTTP through the real pages (FormBrowser), each step timed:
 * discovery (401 → protected-resource metadata → authorization-server metadata), registration,
 * the authorization request (to the sign-in page), sign-in (the password check), consent, token,
 * first call (initialize, initialized, tools/call generate_uuid).
 */
export type DanceStep = 'discovery' | 'registration' | 'authorize' | 'signIn' | 'consent' | 'token' | 'firstCall';

export interface DanceRun {
  /** Milliseconds per step, in order; steps that did not happen (sign-in when already signed in) are absent. */
  steps: Partial<Record<DanceStep, number>>;
  totalMs: number;
}

export interface Authorized {
  client: RawOAuthClient;
  browser: FormBrowser;
  tokens: Tokens;
}

class Stopwatch {
  readonly steps: Partial<Record<DanceStep, number>> = {};
  #start = performance.now();
  #last = this.#start;
  lap(step: DanceStep): void {
    const now = performance.now();
    this.steps[step] = now - this.#last;
    this.#last = now;
  }
  get total(): number {
    return this.#last - this.#start;
  }
}

async function json(url: string): Promise<Record<string, unknown>> {
  const answer = await request(url);
  if (answer.status !== 200 || !answer.json) throw new Error(`GET ${url}: ${answer.status} ${answer.text.slice(0, 200)}`);
  return answer.json;
}

/** Discovery as a client does it from the MCP URL alone: the challenge, then both metadata documents. */
async function discover(server: ServerLike): Promise<void> {
  const challenge = await mcpRequest(server, undefined, initializeMessage(1));
  const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge.headers.get('www-authenticate') ?? '')?.[1];
  if (challenge.status !== 401 || !metadataUrl) throw new Error(`expected a 401 challenge from /mcp, got ${challenge.status}`);
  const resource = await json(metadataUrl);
  const issuer = (resource.authorization_servers as string[] | undefined)?.[0];
  if (!issuer) throw new Error('no authorization server in the protected-resource metadata');
  const metadata = await json(`${issuer}/.well-known/oauth-authorization-server`);
  if (typeof metadata.registration_endpoint !== 'string' || typeof metadata.token_endpoint !== 'string') throw new Error('authorization-server metadata without registration or token endpoint');
}

/** Sign-in and consent pages until the browser is sent back to the client; returns the code. */
async function throughPages(browser: FormBrowser, visit: Visit, person: Person, watch: Stopwatch, state: string): Promise<string> {
  if (visit.kind === 'page' && visit.html.includes('/login"')) {
    visit = await browser.submit(visit, formWithAction(visit, '/login'), { username: person.username, password: person.password });
    watch.lap('signIn');
  }
  if (visit.kind === 'page' && visit.html.includes('/confirm"')) {
    visit = await browser.submit(visit, formWithAction(visit, '/confirm'));
    watch.lap('consent');
  }
  if (visit.kind !== 'left') throw new Error(`still on a page after sign-in and consent: ${asPage(visit).status} ${asPage(visit).url.pathname}`);
  const code = visit.location.searchParams.get('code');
  if (!code || visit.location.searchParams.get('state') !== state) throw new Error(`no code (or another state) in the redirect: ${visit.location.href}`);
  return code;
}

/** initialize, initialized, tools/call generate_uuid: throws unless a UUID comes back. */
export async function firstCall(server: ServerLike, accessToken: string): Promise<void> {
  const init = await mcpRequest(server, accessToken, initializeMessage(1));
  if (init.status !== 200 || !init.message?.result) throw new Error(`initialize: ${init.status} ${init.text.slice(0, 200)}`);
  const sessionId = init.sessionId ?? undefined;
  const ready = await mcpRequest(server, accessToken, initializedNotification, { sessionId });
  if (ready.status !== 202) throw new Error(`notifications/initialized: ${ready.status}`);
  const call = await mcpRequest(server, accessToken, toolsCallMessage(2, 'generate_uuid'), { sessionId });
  const uuids = (call.message?.result as { structuredContent?: { uuids?: unknown[] } } | undefined)?.structuredContent?.uuids;
  if (call.status !== 200 || uuids?.length !== 1) throw new Error(`tools/call generate_uuid: ${call.status} ${call.text.slice(0, 200)}`);
}

async function authorizeAndCall(server: ServerLike, client: RawOAuthClient, browser: FormBrowser, person: Person, watch: Stopwatch): Promise<Tokens> {
  const authRequest = client.authorizationRequest();
  const visit = await browser.open(authRequest.url);
  watch.lap('authorize');
  const code = await throughPages(browser, visit, person, watch, authRequest.state);
  const tokens = tokensOf(await client.exchange(code, authRequest.verifier));
  watch.lap('token');
  await firstCall(server, tokens.access_token);
  watch.lap('firstCall');
  return tokens;
}

/** A new client and a browser that never signed in: the whole first-time dance. */
export async function firstTimeDance(server: ServerLike, person: Person): Promise<DanceRun & Authorized> {
  const redirectUri = `http://127.0.0.1:${await freePort()}/callback`;
  const browser = new FormBrowser(server.url);
  const watch = new Stopwatch();
  await discover(server);
  watch.lap('discovery');
  const client = await RawOAuthClient.register(server, [redirectUri], { client_name: 'bench client' });
  watch.lap('registration');
  const tokens = await authorizeAndCall(server, client, browser, person, watch);
  return { steps: watch.steps, totalMs: watch.total, client, browser, tokens };
}

/**
 * The same client and browser again (signed in, consent remembered): no registration, no password.
 * A client on the user's machine is still shown the consent page, shortened ("already allowed"),
 * and must click once (src/authorization/consent-policy.ts).
 */
export async function reauthorization(server: ServerLike, person: Person, authorized: Authorized): Promise<DanceRun & Authorized> {
  const watch = new Stopwatch();
  const tokens = await authorizeAndCall(server, authorized.client, authorized.browser, person, watch);
  if (watch.steps.signIn !== undefined) throw new Error('re-authorization asked for the password again: the sign-in was not remembered');
  return { steps: watch.steps, totalMs: watch.total, client: authorized.client, browser: authorized.browser, tokens };
}
