import { createHash, randomBytes } from 'node:crypto';
import { freePort } from './free-port.js';
import { type FormBrowser } from './form-browser.js';
import { type Person, signInAndAllow } from './person-at-browser.js';

/**
 * A deliberately small OAuth 2.1 client built on fetch, for tests that must send requests no
 * well-behaved client library would (no PKCE, a wrong verifier, a foreign resource, a replayed code)
 * and read the server's exact answer: status, headers and JSON body, nothing interpreted.
 */

export interface ServerLike {
  url: string;
  mcpUrl: string;
}

/** A raw HTTP answer: status, headers, the body text, and the body as JSON when it parses. */
export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown> | undefined;
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  scope?: string;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const REQUEST_TIMEOUT_MS = 15_000;

async function read(response: Response): Promise<RawResponse> {
  const text = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** fetch with a bound wait and no redirect following: a test sees every 3xx itself. */
export async function request(url: string | URL, init: RequestInit = {}): Promise<RawResponse> {
  return read(await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...init }));
}

/** A PKCE pair (RFC 7636): a 43-character verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: s256(verifier) };
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** POST /register with a JSON body, as a client doing dynamic registration (RFC 7591) does. */
export function registerRaw(server: ServerLike, metadata: Record<string, unknown>, headers: Record<string, string> = {}): Promise<RawResponse> {
  return request(`${server.url}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(metadata),
  });
}

export interface AuthorizationOptions {
  /** Default: the client's first redirect URI. */
  redirectUri?: string;
  /** Default: the MCP scopes left to the server (no `scope` parameter). */
  scope?: string;
  /** RFC 8707 resource; default: the server's MCP URL. `null` sends none. */
  resource?: string | null;
  /** PKCE: 'S256' (default, correct), 'none' (no code_challenge at all), 'plain' (challenge = verifier). */
  pkce?: 'S256' | 'none' | 'plain';
  /** Anything else to put on the URL. */
  extra?: Record<string, string>;
}

export interface AuthorizationRequest {
  url: URL;
  verifier: string;
  state: string;
  redirectUri: string;
}

/** One registered public client (token_endpoint_auth_method none), and what it can do at each endpoint. */
export class RawOAuthClient {
  constructor(
    readonly server: ServerLike,
    readonly clientId: string,
    readonly redirectUris: string[],
    readonly registration: Record<string, unknown>,
  ) {}

  /** Registers a public loopback client for the code and refresh grants; throws unless the server answers 201. */
  static async register(server: ServerLike, redirectUris: string[], extra: Record<string, unknown> = {}): Promise<RawOAuthClient> {
    const answer = await registerRaw(server, {
      client_name: 'raw OAuth test client',
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...extra,
    });
    if (answer.status !== 201 || typeof answer.json?.client_id !== 'string') {
      throw new Error(`registration failed: ${answer.status} ${answer.text}`);
    }
    return new RawOAuthClient(server, answer.json.client_id, redirectUris, answer.json);
  }

  /** A public client on a fresh loopback port, as an MCP client on this machine registers one. */
  static async registerLoopback(server: ServerLike, extra: Record<string, unknown> = {}, path = '/callback'): Promise<RawOAuthClient> {
    return RawOAuthClient.register(server, [`http://127.0.0.1:${await freePort()}${path}`], extra);
  }

  get redirectUri(): string {
    return this.redirectUris[0]!;
  }

  /** An authorization URL for /auth with a fresh state and verifier (PKCE as `options.pkce` says). */
  authorizationRequest(options: AuthorizationOptions = {}): AuthorizationRequest {
    const { verifier, challenge } = pkcePair();
    const state = randomBytes(12).toString('base64url');
    const redirectUri = options.redirectUri ?? this.redirectUri;
    const url = new URL(`${this.server.url}/auth`);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', this.clientId);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('state', state);
    if (options.scope !== undefined) url.searchParams.set('scope', options.scope);
    const resource = options.resource === undefined ? this.server.mcpUrl : options.resource;
    if (resource !== null) url.searchParams.set('resource', resource);
    const pkce = options.pkce ?? 'S256';
    if (pkce === 'S256') {
      url.searchParams.set('code_challenge', challenge);
      url.searchParams.set('code_challenge_method', 'S256');
    } else if (pkce === 'plain') {
      url.searchParams.set('code_challenge', verifier);
      url.searchParams.set('code_challenge_method', 'plain');
    }
    for (const [key, value] of Object.entries(options.extra ?? {})) url.searchParams.set(key, value);
    return { url, verifier, state, redirectUri };
  }

  /**
   * Opens the authorization URL in `browser`, signs `person` in and allows, through the real forms;
   * returns the code from the redirect (after checking state came back unchanged).
   */
  async signIn(browser: FormBrowser, person: Person, options: AuthorizationOptions = {}): Promise<{ code: string; request: AuthorizationRequest; callback: URL }> {
    const authRequest = this.authorizationRequest(options);
    const callback = await signInAndAllow(browser, authRequest.url, person);
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`no code in the redirect: ${callback.href}`);
    if (callback.searchParams.get('state') !== authRequest.state) throw new Error(`state did not come back: ${callback.href}`);
    return { code, request: authRequest, callback };
  }

  /** POST /token, grant_type=authorization_code. */
  exchange(code: string, verifier: string, extra: Record<string, string> = {}): Promise<RawResponse> {
    return this.token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: this.redirectUri, ...extra });
  }

  /** POST /token, grant_type=refresh_token. */
  refresh(refreshToken: string, extra: Record<string, string> = {}): Promise<RawResponse> {
    return this.token({ grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });
  }

  /** POST /token with these parameters (client_id added). */
  token(params: Record<string, string>): Promise<RawResponse> {
    return request(`${this.server.url}/token`, { method: 'POST', headers: FORM, body: new URLSearchParams({ client_id: this.clientId, ...params }) });
  }

  /** POST /revoke (RFC 7009). */
  revoke(token: string, hint?: 'access_token' | 'refresh_token'): Promise<RawResponse> {
    const body = new URLSearchParams({ token, client_id: this.clientId });
    if (hint) body.set('token_type_hint', hint);
    return request(`${this.server.url}/revoke`, { method: 'POST', headers: FORM, body });
  }

  /** The whole happy path: sign in and allow, exchange the code; throws unless tokens come back. */
  async authorize(browser: FormBrowser, person: Person, options: AuthorizationOptions = {}): Promise<Tokens> {
    const { code, request: authRequest } = await this.signIn(browser, person, options);
    const answer = await this.exchange(code, authRequest.verifier, authRequest.redirectUri === this.redirectUri ? {} : { redirect_uri: authRequest.redirectUri });
    return tokensOf(answer);
  }
}

/** The tokens from a 200 token response; throws with the server's answer otherwise. */
export function tokensOf(answer: RawResponse): Tokens {
  const body = answer.json;
  if (answer.status !== 200 || typeof body?.access_token !== 'string' || typeof body.refresh_token !== 'string') {
    throw new Error(`expected tokens, got ${answer.status} ${answer.text}`);
  }
  return body as unknown as Tokens;
}

// ---------------------------------------------------------------------------------------------
// /mcp with raw JSON-RPC

export const PROTOCOL_VERSION = '2025-06-18';

export function initializeMessage(id: number | string = 1) {
  return { jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'raw-oauth-test', version: '1.0.0' } } };
}

export const initializedNotification = { jsonrpc: '2.0', method: 'notifications/initialized' };

export function toolsCallMessage(id: number | string, name: string, args: Record<string, unknown> = {}) {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } };
}

export interface McpReply extends RawResponse {
  /** The JSON-RPC message: the JSON body, or the first `data:` line of an event stream. */
  message: Record<string, unknown> | undefined;
  sessionId: string | null;
}

export interface McpCallOptions {
  sessionId?: string;
  headers?: Record<string, string>;
  /** Raw body text instead of the JSON of `message` (to send malformed JSON). */
  rawBody?: string;
  method?: string;
  /** Where to send it: default server.mcpUrl. */
  url?: string;
}

/** The first JSON-RPC message of a text/event-stream body (its `data:` lines joined). */
function messageFromEventStream(text: string): Record<string, unknown> | undefined {
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event.split(/\r?\n/).filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart());
    if (data.length === 0) continue;
    return JSON.parse(data.join('\n')) as Record<string, unknown>;
  }
  return undefined;
}

/** One request to /mcp: `token` as Bearer (undefined: no Authorization header), JSON-RPC `message` as the body. */
export async function mcpRequest(server: ServerLike, token: string | undefined, message: unknown, options: McpCallOptions = {}): Promise<McpReply> {
  const method = options.method ?? 'POST';
  const headers: Record<string, string> = { accept: 'application/json, text/event-stream', 'mcp-protocol-version': PROTOCOL_VERSION };
  if (method === 'POST') headers['content-type'] = 'application/json';
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (options.sessionId) headers['mcp-session-id'] = options.sessionId;
  Object.assign(headers, options.headers);
  const body = method === 'POST' ? (options.rawBody ?? JSON.stringify(message)) : undefined;
  const raw = await request(options.url ?? server.mcpUrl, { method, headers, body });
  let parsed = raw.json;
  if ((raw.headers.get('content-type') ?? '').startsWith('text/event-stream')) parsed = messageFromEventStream(raw.text);
  return { ...raw, message: parsed, sessionId: raw.headers.get('mcp-session-id') };
}

/** initialize + notifications/initialized: a ready session; throws unless the server opened one. */
export async function openSession(server: ServerLike, token: string): Promise<string> {
  const init = await mcpRequest(server, token, initializeMessage(1));
  if (init.status !== 200 || !init.sessionId || !init.message?.result) throw new Error(`initialize failed: ${init.status} ${init.text}`);
  const ready = await mcpRequest(server, token, initializedNotification, { sessionId: init.sessionId });
  if (ready.status !== 202) throw new Error(`notifications/initialized failed: ${ready.status} ${ready.text}`);
  return init.sessionId;
}

/** Where the 401 challenge on /mcp must point (RFC 9728 §5.1): the path-inserted metadata URL. */
export function resourceMetadataUrl(server: ServerLike): string {
  return `${server.url}/.well-known/oauth-protected-resource${new URL(server.mcpUrl).pathname}`;
}
