import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

/**
 * Records the HTTP requests a client sends to one origin, and what each was answered, by wrapping
 * the `fetch` the client uses: passed as the client's own `fetch` option where it has one (the SDK
 * transports do), or put in place of globalThis.fetch for clients that only use the global.
 */
export interface RecordedRequest {
  method: string;
  url: URL;
  /** The request's headers as sent (Authorization, MCP-Protocol-Version, …). */
  headers: Headers;
  authorization: string | null;
  /** The request body when it was text (JSON, form), else undefined. */
  body: string | undefined;
  status?: number;
  /** The response's WWW-Authenticate header, if any. */
  wwwAuthenticate?: string | null;
  /** The response body, kept only for the requests `keepResponse` selects. */
  responseBody?: string;
}

export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface FetchRecorder {
  /** A fetch that records requests to `origin` and passes every request on to the real one. */
  fetch: Fetch;
  requests: RecordedRequest[];
  /** Starts a test step: from now on `since()` returns only the requests sent after this call. */
  step(): void;
  since(): RecordedRequest[];
}

export function recordingFetch(origin: string, keepResponse: (request: RecordedRequest) => boolean = () => false, base: Fetch = (input, init) => globalThis.fetch(input, init)): FetchRecorder {
  const requests: RecordedRequest[] = [];
  let mark = 0;
  const recording: Fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin !== origin) return base(input, init);
    const headers = new Headers(input instanceof Request ? input.headers : undefined);
    new Headers(init?.headers).forEach((value, key) => headers.set(key, value));
    const rawBody = init?.body;
    const request: RecordedRequest = {
      method: (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase(),
      url,
      headers,
      authorization: headers.get('authorization'),
      body: typeof rawBody === 'string' ? rawBody : rawBody instanceof URLSearchParams ? rawBody.toString() : undefined,
    };
    requests.push(request);
    const response = await base(input, init);
    request.status = response.status;
    request.wwwAuthenticate = response.headers.get('www-authenticate');
    if (keepResponse(request)) request.responseBody = await response.clone().text();
    return response;
  };
  return {
    fetch: recording,
    requests,
    step() {
      mark = requests.length;
    },
    since: () => requests.slice(mark),
  };
}

/** recordingFetch put in place of globalThis.fetch, for clients that only use the global; `restore()` puts the original back. */
export function recordGlobalFetch(origin: string, keepResponse?: (request: RecordedRequest) => boolean): FetchRecorder & { restore(): void } {
  const original = globalThis.fetch;
  const recorder = recordingFetch(origin, keepResponse, original);
  globalThis.fetch = recorder.fetch as typeof globalThis.fetch;
  return {
    ...recorder,
    restore() {
      globalThis.fetch = original;
    },
  };
}

export function requestsTo(requests: RecordedRequest[], method: string, pathname: string): RecordedRequest[] {
  return requests.filter((request) => request.method === method && request.url.pathname === pathname);
}

/** What "an MCP request carried the token and was accepted" needs to know of a request, however it was recorded. */
export interface SentMcpPost {
  authorization: string | null | undefined;
  status?: number;
  body?: string;
}

/**
 * At least `atLeast` POSTs to /mcp (initialize, notifications/initialized, the calls), each
 * carrying `accessToken` as its Bearer token and accepted (200, or 202 for a notification).
 */
export function assertMcpPostsCarriedToken(posts: SentMcpPost[], accessToken: string, atLeast: number): void {
  assert.ok(posts.length >= atLeast, `${posts.length} POSTs to /mcp, expected at least ${atLeast} (initialize, notifications/initialized, the calls)`);
  for (const post of posts) {
    assert.equal(post.authorization, `Bearer ${accessToken}`, 'every MCP request carried the access token');
    assert.ok(post.status === 200 || post.status === 202, `MCP request accepted (${post.status}): ${post.body?.slice(0, 80)}`);
  }
}

/** assertMcpPostsCarriedToken for the POSTs to /mcp among recorded `requests`. */
export function assertMcpPostsCarried(requests: RecordedRequest[], accessToken: string, atLeast: number): void {
  assertMcpPostsCarriedToken(requestsTo(requests, 'POST', '/mcp'), accessToken, atLeast);
}

/**
 * The one token request among `requests` is a refresh of `refreshToken` by `clientId` for `resource`
 * (RFC 8707), form-encoded, and the server accepted it. Returns what was sent.
 */
export function assertOneRefresh(requests: RecordedRequest[], expected: { refreshToken: string; clientId: string; resource: string }): URLSearchParams {
  return oneTokenRequest(requests, 'refresh_token', (sent) => {
    assert.equal(sent.get('refresh_token'), expected.refreshToken);
    assert.equal(sent.get('client_id'), expected.clientId);
    assert.equal(sent.get('resource'), expected.resource);
  });
}

/**
 * The one token request among `requests` exchanges a code: form-encoded, by `clientId`, with the
 * redirect URI of the authorization request, the PKCE verifier of `codeChallenge` (S256) and the
 * RFC 8707 resource; and the server accepted it.
 */
export function assertOneCodeExchange(requests: RecordedRequest[], expected: { clientId: string; redirectUri: string; resource: string; codeChallenge: string | null }): void {
  oneTokenRequest(requests, 'authorization_code', (sent) => {
    assert.equal(sent.get('client_id'), expected.clientId);
    assert.equal(sent.get('redirect_uri'), expected.redirectUri);
    assert.equal(sent.get('resource'), expected.resource);
    assert.equal(createHash('sha256').update(sent.get('code_verifier') ?? '').digest('base64url'), expected.codeChallenge, 'PKCE verifier matches the challenge');
  });
}

/** The only token request among `requests`: form-encoded, of `grantType`, `check`ed, and answered 200. */
function oneTokenRequest(requests: RecordedRequest[], grantType: string, check: (sent: URLSearchParams) => void): URLSearchParams {
  const tokenRequests = requestsTo(requests, 'POST', '/token');
  assert.equal(tokenRequests.length, 1, 'one token request');
  const request = tokenRequests[0]!;
  const sent = new URLSearchParams(request.body);
  assert.equal(request.headers.get('content-type'), 'application/x-www-form-urlencoded');
  assert.equal(sent.get('grant_type'), grantType);
  check(sent);
  assert.equal(request.status, 200, `${grantType} accepted: ${request.responseBody}`);
  return sent;
}
