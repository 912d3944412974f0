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
}

export function recordingFetch(origin: string, keepResponse: (request: RecordedRequest) => boolean = () => false, base: Fetch = (input, init) => globalThis.fetch(input, init)): FetchRecorder {
  const requests: RecordedRequest[] = [];
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
  return { fetch: recording, requests };
}
