import fc from 'fast-check';
import type { RawRequest } from '../../support/raw-http.js';
import { endpointOf, type Case, type Targets } from './case.js';
import { brokenEncodingOf, contentTypes, deepJson, invalidUtf8, mostlyValid, oddHeaderValue, oddText, oversized, queryOf, sometimes } from './pieces.js';

/** Requests to /mcp (Streamable HTTP) and /messages (HTTP+SSE), with and without a real token and session. */

const MCP_BODY_LIMIT = 1024 * 1024;

type Headers = Array<[string, string | Buffer]>;

const METHODS = [
  'initialize', 'ping', 'tools/list', 'tools/call', 'resources/list', 'resources/read', 'resources/templates/list', 'resources/subscribe',
  'resources/unsubscribe', 'prompts/list', 'prompts/get', 'logging/setLevel', 'completion/complete', 'notifications/initialized',
  'notifications/cancelled', 'notifications/progress', 'notifications/roots/list_changed', 'notifications/message', 'roots/list',
  'sampling/createMessage', 'elicitation/create', 'tasks/get', 'tasks/list',
];

const PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];

const json = fc.jsonValue({ maxDepth: 3 });

const toolArguments = fc.oneof(
  fc.record({ version: fc.constantFrom('v4', 'v7'), count: fc.integer({ min: 1, max: 100 }) }, { requiredKeys: [] }),
  fc.record({ version: fc.oneof(oddText, json), count: fc.oneof(fc.constantFrom(0, -1, 101, 1.5, 1e308, -0, Number.MAX_SAFE_INTEGER), fc.string(), json) }, { requiredKeys: [] }),
  fc.dictionary(oddText, json, { maxKeys: 4 }),
  json,
);

/** Params shaped for `method` most of the time, anything JSON otherwise. */
function paramsFor(method: string): fc.Arbitrary<unknown> {
  const shaped: Record<string, fc.Arbitrary<unknown>> = {
    initialize: fc.record({
      protocolVersion: fc.oneof(fc.constantFrom(...PROTOCOL_VERSIONS), oddText, json),
      capabilities: fc.oneof(fc.constant({}), json),
      clientInfo: fc.oneof(fc.record({ name: oddText, version: oddText }), json),
    }, { requiredKeys: [] }),
    'tools/call': fc.record({ name: fc.oneof(fc.constantFrom('generate_uuid', 'get_user_profile', 'generate_uuid ', 'GENERATE_UUID'), oddText, json), arguments: toolArguments, _meta: fc.oneof(json, fc.record({ progressToken: fc.oneof(fc.string(), fc.integer()) })) }, { requiredKeys: [] }),
    'resources/read': fc.record({ uri: fc.oneof(fc.constantFrom('test://static-text', 'file:///etc/passwd', 'test://template/../x/data', ''), oddText, json) }, { requiredKeys: [] }),
    'prompts/get': fc.record({ name: fc.oneof(fc.constantFrom('test_simple_prompt', 'test_prompt_with_arguments'), oddText), arguments: fc.oneof(fc.dictionary(oddText, oddText), json) }, { requiredKeys: [] }),
    'logging/setLevel': fc.record({ level: fc.oneof(fc.constantFrom('debug', 'info', 'emergency', 'verbose'), oddText, json) }, { requiredKeys: [] }),
    'completion/complete': fc.record({ ref: fc.oneof(fc.record({ type: fc.constantFrom('ref/prompt', 'ref/resource', 'ref/x'), name: oddText, uri: oddText }, { requiredKeys: [] }), json), argument: fc.oneof(fc.record({ name: oddText, value: oddText }), json) }, { requiredKeys: [] }),
    'notifications/cancelled': fc.record({ requestId: fc.oneof(fc.integer(), fc.string(), json), reason: oddText }, { requiredKeys: [] }),
    'notifications/progress': fc.record({ progressToken: fc.oneof(fc.integer(), fc.string(), json), progress: fc.oneof(fc.double(), json) }, { requiredKeys: [] }),
  };
  return fc.oneof({ weight: 3, arbitrary: Object.hasOwn(shaped, method) ? shaped[method]! : fc.constant({}) }, { weight: 1, arbitrary: json }, { weight: 1, arbitrary: fc.constant(undefined) });
}

const ids = fc.oneof(
  { weight: 6, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, 1.5, -0, true, 1e300, 2 ** 63, '') },
  { weight: 1, arbitrary: fc.oneof(fc.array(fc.integer(), { maxLength: 2 }), fc.dictionary(fc.string(), fc.integer(), { maxKeys: 2 })) },
);

/** One JSON-RPC-ish message: mostly well-formed, with any part (jsonrpc, id, method, params) possibly wrong or absent. */
const message = fc
  .record({
    method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: oddText }),
    jsonrpc: fc.oneof({ weight: 8, arbitrary: fc.constant('2.0') }, { weight: 1, arbitrary: fc.constantFrom('1.0', 2, '', null, undefined, '2.0 ') }),
    id: sometimes(ids, 4, 1),
    extra: sometimes(fc.dictionary(fc.constantFrom('result', 'error', 'params', 'method', '__proto__', 'x'), json, { maxKeys: 2 }), 1, 5),
  })
  .chain(({ method, jsonrpc, id, extra }) =>
    paramsFor(method).map((params) => {
      const body: Record<string, unknown> = { ...extra, jsonrpc, method };
      // Notifications carry no id; anything else mostly does.
      if (id !== undefined && !method.startsWith('notifications/')) body.id = id;
      if (params !== undefined) body.params = params;
      return body;
    }),
  );

/** A body for /mcp or /messages: a message, a batch, random JSON, or bytes that are not JSON at all. */
const body: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 12, arbitrary: message.map((m) => Buffer.from(JSON.stringify(m))) },
  { weight: 3, arbitrary: fc.array(message, { maxLength: 6 }).map((batch) => Buffer.from(JSON.stringify(batch))) },
  { weight: 2, arbitrary: json.map((value) => Buffer.from(JSON.stringify(value) ?? 'null')) },
  { weight: 3, arbitrary: message.chain((m) => brokenEncodingOf(JSON.stringify(m))) },
  { weight: 1, arbitrary: deepJson },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.alloc(0), Buffer.from('null'), Buffer.from('""'), Buffer.from('[]'), Buffer.from('[[]]'), Buffer.from('{"__proto__":{"jsonrpc":"2.0"}}')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) },
);

function authorization(targets: Targets): fc.Arbitrary<Headers> {
  return fc.oneof(
    { weight: 10, arbitrary: fc.constant([['Authorization', `Bearer ${targets.accessToken}`]] as Headers) },
    { weight: 1, arbitrary: fc.constant([] as Headers) },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.constantFrom('Bearer', 'Bearer ', `bearer ${targets.accessToken}`, `Bearer  ${targets.accessToken}`, `Bearer ${targets.accessToken}x`, `Basic ${targets.accessToken}`, `Bearer ${targets.accessToken.slice(0, -1)}`, 'Bearer a.b.c', `Bearer ${'A'.repeat(8000)}`, 'DPoP abc', `Bearer ${targets.accessToken}, Bearer other`),
        oddHeaderValue,
        invalidUtf8.map((bad) => Buffer.concat([Buffer.from('Bearer '), bad])),
      ).map((value) => [['Authorization', value]] as Headers),
    },
    { weight: 1, arbitrary: fc.constant([['Authorization', `Bearer ${targets.accessToken}`], ['Authorization', 'Bearer other']] as Headers) },
  );
}

const accepts = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json, text/event-stream') },
  { weight: 2, arbitrary: fc.constantFrom('', '*/*', 'application/json', 'text/event-stream', 'text/html', 'application/*', 'text/event-stream;q=0, application/json', 'application/json;q=0.5, text/event-stream;q=0.9') },
  { weight: 1, arbitrary: oddHeaderValue },
);

function sessionHeaders(targets: Targets, mayUseReal: boolean): fc.Arbitrary<Headers> {
  const real = targets.sessionId && mayUseReal ? [targets.sessionId] : [];
  const one = (value: string | Buffer): Headers => [['Mcp-Session-Id', value]];
  return fc.oneof(
    { weight: real.length ? 8 : 0, arbitrary: fc.constantFrom(...(real.length ? real : ['unused'])).map(one) },
    { weight: 2, arbitrary: fc.constant([] as Headers) },
    { weight: 2, arbitrary: fc.oneof(fc.uuid(), oddHeaderValue).map(one) },
    { weight: real.length ? 1 : 0, arbitrary: fc.uuid().map((other) => [['Mcp-Session-Id', targets.sessionId ?? ''], ['mcp-session-id', other]] as Headers) },
  );
}

const protocolVersion = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...PROTOCOL_VERSIONS).map((v) => [['MCP-Protocol-Version', v]] as Headers) },
  { weight: 1, arbitrary: fc.constant([] as Headers) },
  { weight: 2, arbitrary: fc.oneof(fc.constantFrom('2099-01-01', '1.0', 'latest', '2025-06-18, 2025-03-26'), oddHeaderValue).map((v) => [['MCP-Protocol-Version', v]] as Headers) },
);

const origins = fc.oneof(
  { weight: 10, arbitrary: fc.constant([] as Headers) },
  { weight: 1, arbitrary: fc.constantFrom('http://evil.example', 'null', 'http://localhost', 'http://127.0.0.1:1').map((o) => [['Origin', o]] as Headers) },
);

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant([['Content-Type', 'application/json']] as Headers) },
  { weight: 1, arbitrary: fc.constant([] as Headers) },
  { weight: 2, arbitrary: fc.oneof(contentTypes, oddHeaderValue).map((t) => [['Content-Type', t]] as Headers) },
);

const JSON_TYPE: Headers = [['Content-Type', 'application/json']];
const ACCEPT_BOTH = 'application/json, text/event-stream';
const bearer = (targets: Targets): Headers => [['Authorization', `Bearer ${targets.accessToken}`]];

function headersFrom(...parts: Array<Headers>): Headers {
  return parts.flat();
}

/** POST /mcp: every JSON-RPC method, malformed bodies, batches, and every header wrong in turn. */
export function postMcp(targets: Targets): fc.Arbitrary<Case> {
  const bodies = fc.oneof({ weight: 40, arbitrary: body }, { weight: 1, arbitrary: oversized(MCP_BODY_LIMIT) });
  const valid: [Headers, Headers, string | Buffer, Headers, Headers, Headers] = [bearer(targets), JSON_TYPE, ACCEPT_BOTH, targets.sessionId ? [['Mcp-Session-Id', targets.sessionId]] : [], [['MCP-Protocol-Version', '2025-06-18']], []];
  const headers = mostlyValid(valid, [authorization(targets), contentType, accepts, sessionHeaders(targets, true), protocolVersion, origins]);
  return fc.tuple(headers, bodies).map(([[auth, type, accept, session, version, origin], payload]) => ({
    endpoint: endpointOf('POST', '/mcp'),
    area: 'mcp',
    request: { method: 'POST', target: '/mcp', headers: headersFrom(auth, type, [['Accept', accept]], session, version, origin), body: payload },
    parserMayRefuse: true,
  }));
}

/** GET /mcp (the standalone event stream) and DELETE /mcp (end a session), never ending the corpus's own session. */
export function getAndDeleteMcp(targets: Targets): fc.Arbitrary<Case> {
  return fc
    .tuple(fc.constantFrom('GET', 'DELETE', 'HEAD', 'PUT', 'PATCH', 'OPTIONS'), authorization(targets), accepts, protocolVersion, origins, fc.boolean(), sometimes(fc.constantFrom('1', '0', 'abc', '-1', '2b1ef5d2-0f3c-4c4e-9a53-1f0c9d6b2a11_1'), 1, 3))
    .chain(([method, auth, accept, version, origin, withLastEvent, lastEventId]) =>
      sessionHeaders(targets, method === 'GET' || method === 'HEAD').map((session): Case => {
        const headers = headersFrom(auth, [['Accept', accept]], session, version, origin);
        if (withLastEvent && lastEventId !== undefined) headers.push(['Last-Event-ID', lastEventId]);
        if (method === 'OPTIONS') headers.push(['Access-Control-Request-Method', 'POST'], ['Origin', 'http://localhost']);
        return { endpoint: endpointOf(method, '/mcp'), area: 'mcp', request: { method, target: '/mcp', headers }, parserMayRefuse: true };
      }),
    );
}

/** POST /messages?sessionId=… (HTTP+SSE): bodies as for /mcp, with the real legacy session or none, or a wrong one. */
export function postMessages(targets: Targets): fc.Arbitrary<Case> {
  const real = targets.legacySessionId;
  const sessionQuery = fc.oneof(
    { weight: real ? 8 : 0, arbitrary: fc.constant([['sessionId', real ?? '']] as Array<[string, string]>) },
    { weight: 2, arbitrary: fc.oneof(fc.constant([] as Array<[string, string]>), fc.uuid().map((id) => [['sessionId', id]] as Array<[string, string]>), oddText.map((id) => [['sessionId', id]] as Array<[string, string]>)) },
    { weight: 1, arbitrary: fc.uuid().map((other) => [['sessionId', real ?? 'a'], ['sessionId', other]] as Array<[string, string]>) },
  );
  const parts = mostlyValid([bearer(targets), JSON_TYPE, real ? [['sessionId', real]] : []] as [Headers, Headers, Array<[string, string]>], [authorization(targets), contentType, sessionQuery]);
  return fc.tuple(parts, fc.boolean(), fc.oneof({ weight: 40, arbitrary: body }, { weight: 1, arbitrary: oversized(MCP_BODY_LIMIT) })).map(([[auth, type, query], rawQuery, payload]): Case => {
    const request: RawRequest = { method: 'POST', target: `/messages${queryOf(query, rawQuery)}`, headers: headersFrom(auth, type), body: payload };
    return { endpoint: endpointOf('POST', '/messages'), area: 'mcp', request, parserMayRefuse: true };
  });
}

/** GET /sse (and its other methods): a stream the runner reads only the head of, then closes. */
export function sseStream(targets: Targets): fc.Arbitrary<Case> {
  return fc.tuple(fc.constantFrom('GET', 'POST', 'DELETE', 'HEAD', 'OPTIONS'), authorization(targets), accepts).map(([method, auth, accept]): Case => ({
    endpoint: endpointOf(method, '/sse'),
    area: 'mcp',
    request: { method, target: '/sse', headers: headersFrom(auth, [['Accept', accept]]), ...(method === 'POST' ? { body: Buffer.from('{}') } : {}) },
    parserMayRefuse: true,
  }));
}
