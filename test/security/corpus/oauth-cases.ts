import fc from 'fast-check';
import { endpointOf, type Area, type Case, type Targets } from './case.js';
import { brokenEncodingOf, contentTypes, deepJson, formBody, oddHeaderValue, oddRedirectUris, oddText, oversized, parameterList, percentEncode, queryOf, sometimes, wellKnownPaths } from './pieces.js';

/** Requests to the authorization server: token, authorization, registration, revocation, introspection, keys, discovery. */

const AUTHORIZATION_BODY_LIMIT = 32 * 1024;

type Headers = Array<[string, string | Buffer]>;
type Pairs = Array<[string, string]>;

/** More parameters than body-parser's default limit of 1000. */
const MANY_PARAMETERS = Buffer.from(Array.from({ length: 1500 }, (_, i) => `p${i}=1`).join('&'));

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:openid:params:grant-type:ciba', ''];

/** Form parameters as a body in one of the ways clients (and attackers) send them. */
function encodedBody(pairs: Pairs): fc.Arbitrary<{ type: string | undefined; body: Buffer }> {
  const asJson = () => {
    const object: Record<string, unknown> = {};
    for (const [name, value] of pairs) object[name] = name in object ? [object[name], value].flat() : value;
    return Buffer.from(JSON.stringify(object));
  };
  const form = formBody(pairs);
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant({ type: 'application/x-www-form-urlencoded', body: form }) },
    { weight: 1, arbitrary: fc.constant({ type: 'application/x-www-form-urlencoded', body: formBody(pairs, true) }) },
    { weight: 3, arbitrary: fc.constant({ type: 'application/json', body: asJson() }) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('application/x-www-form-urlencoded', 'application/json'), brokenEncodingOf(form.toString('utf8'))).map(([type, body]) => ({ type, body })) },
    { weight: 1, arbitrary: fc.tuple(fc.option(contentTypes, { nil: undefined }), fc.constant(form)).map(([type, body]) => ({ type, body })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('application/json', 'application/x-www-form-urlencoded'), deepJson).map(([type, body]) => ({ type, body })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('application/json', 'application/x-www-form-urlencoded'), oversized(AUTHORIZATION_BODY_LIMIT)).map(([type, body]) => ({ type, body })) },
    { weight: 1, arbitrary: fc.constantFrom('[]', 'null', '"x"', '{"a":{"b":{}}}', '{"client_id":{"$ne":1}}', '').map((text) => ({ type: 'application/json', body: Buffer.from(text) })) },
    { weight: 1, arbitrary: fc.constant({ type: 'application/x-www-form-urlencoded', body: MANY_PARAMETERS }) },
  );
}

/** Client authentication: none, a Basic header (well-formed or not), or a conflicting one. */
function clientAuthentication(targets: Targets): fc.Arbitrary<Headers> {
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${percentEncode(id)}:${percentEncode(secret)}`).toString('base64')}`;
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant([] as Headers) },
    { weight: 2, arbitrary: fc.tuple(fc.oneof(fc.constant(targets.clientId), oddText), oddText).map(([id, secret]) => [['Authorization', basic(id, secret)]] as Headers) },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom('Basic', 'Basic ', 'Basic !!!', 'Basic Og==', `Basic ${Buffer.from('::::').toString('base64')}`, `Bearer ${targets.accessToken}`), oddHeaderValue).map((value) => [['Authorization', value]] as Headers) },
  );
}

function clientIds(targets: Targets): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(targets.clientId) },
    { weight: 1, arbitrary: fc.constant(targets.managed.clientId) },
    { weight: 2, arbitrary: fc.oneof(oddText, fc.constantFrom('https://example.com/client.json', 'https://127.0.0.1/x', 'http://localhost/x', `${targets.clientId}x`)) },
  );
}

function postCase(endpoint: string, area: Area, target: string, headers: Headers, encoded: { type: string | undefined; body: Buffer }): Case {
  const all: Headers = [...headers];
  if (encoded.type !== undefined) all.push(['Content-Type', encoded.type]);
  return { endpoint: endpointOf('POST', endpoint), area, request: { method: 'POST', target, headers: all, body: encoded.body }, parserMayRefuse: true };
}

/** POST /token: every grant type, duplicated and conflicting parameters, forms and JSON and neither. */
export function token(targets: Targets): fc.Arbitrary<Case> {
  const params = parameterList({
    grant_type: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...GRANT_TYPES) }, { weight: 1, arbitrary: oddText }),
    client_id: clientIds(targets),
    code: fc.oneof(fc.base64String({ minLength: 4, maxLength: 64 }), oddText),
    code_verifier: fc.oneof(fc.base64String({ minLength: 44, maxLength: 128 }), oddText),
    redirect_uri: oddRedirectUris(targets.redirectUri),
    refresh_token: fc.oneof(fc.base64String({ minLength: 4, maxLength: 64 }), oddText, fc.constant(targets.accessToken)),
    scope: fc.oneof(fc.constantFrom('uuid:generate', 'profile:read', 'openid offline_access', 'uuid:generate uuid:generate', 'admin', ''), oddText),
    resource: fc.oneof(fc.constantFrom(`http://localhost:${targets.port}/mcp`, `http://localhost:${targets.port}/sse`, 'https://evil.example/mcp', 'urn:x', '/mcp', `http://localhost:${targets.port}/mcp#frag`), oddText),
    client_secret: oddText,
    client_assertion_type: fc.constantFrom('urn:ietf:params:oauth:client-assertion-type:jwt-bearer', 'x'),
    client_assertion: fc.oneof(fc.constant('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'), oddText),
    username: oddText,
    password: oddText,
    device_code: oddText,
  });
  return fc.tuple(params, clientAuthentication(targets)).chain(([pairs, auth]) => encodedBody(pairs).map((encoded) => postCase('/token', 'oauth', '/token', auth, encoded)));
}

/** POST /revoke and /introspect: tokens real and not, hints, client identification. */
export function revokeAndIntrospect(targets: Targets): fc.Arbitrary<Case> {
  const params = parameterList({
    // The corpus's own access token is never revoked: later cases need it.
    token: fc.oneof(fc.base64String({ minLength: 4, maxLength: 64 }), oddText, fc.constant(`${targets.accessToken}x`)),
    token_type_hint: fc.oneof(fc.constantFrom('access_token', 'refresh_token', 'id_token', 'urn:x'), oddText),
    client_id: clientIds(targets),
    client_secret: oddText,
  });
  return fc
    .tuple(fc.constantFrom('/revoke', '/introspect'), params, clientAuthentication(targets))
    .chain(([path, pairs, auth]) => encodedBody(pairs).map((encoded) => postCase(path, 'oauth', path, auth, encoded)));
}

/** GET and POST /auth: odd redirect_uris above all, and every parameter duplicated, missing or wrong. */
export function authorization(targets: Targets): fc.Arbitrary<Case> {
  const params = parameterList({
    response_type: fc.oneof(fc.constantFrom('code', 'token', 'id_token', 'code id_token', 'none', ''), oddText),
    client_id: clientIds(targets),
    redirect_uri: oddRedirectUris(targets.redirectUri),
    scope: fc.oneof(fc.constantFrom('uuid:generate profile:read', 'openid', 'offline_access', 'bogus'), oddText),
    state: oddText,
    code_challenge: fc.oneof(fc.base64String({ minLength: 44, maxLength: 44 }).map((text) => text.slice(0, 43)), oddText),
    code_challenge_method: fc.oneof(fc.constantFrom('S256', 'plain', 's256', ''), oddText),
    resource: fc.oneof(fc.constantFrom(`http://localhost:${targets.port}/mcp`, 'https://evil.example/', 'relative/path'), oddText),
    response_mode: fc.constantFrom('query', 'fragment', 'form_post', 'web_message', 'jwt'),
    prompt: fc.constantFrom('none', 'login', 'consent', 'select_account', 'create', 'login consent', 'bogus'),
  });
  return fc.tuple(fc.constantFrom('GET', 'POST', 'HEAD'), params, fc.boolean()).chain(([method, pairs, rawEncoding]): fc.Arbitrary<Case> => {
    if (method === 'POST') return encodedBody(pairs).map((encoded) => postCase('/auth', 'page-or-oauth', '/auth', [], encoded));
    return fc.constant({ endpoint: endpointOf(method, '/auth'), area: 'page-or-oauth' as const, request: { method, target: `/auth${queryOf(pairs, rawEncoding)}`, headers: [] }, parserMayRefuse: true });
  });
}

/** Client metadata (RFC 7591): plausible registrations with one or more fields wrong. */
function clientMetadata(targets: Targets): fc.Arbitrary<unknown> {
  const json = fc.jsonValue({ maxDepth: 2 });
  const uri = fc.oneof(oddRedirectUris(targets.redirectUri), json);
  const fields = {
    client_name: fc.oneof(oddText, json),
    redirect_uris: fc.oneof(fc.array(oddRedirectUris(targets.redirectUri), { maxLength: 3 }), json),
    grant_types: fc.oneof(fc.subarray([...GRANT_TYPES]), json),
    response_types: fc.oneof(fc.subarray(['code', 'token', 'id_token', 'none']), json),
    token_endpoint_auth_method: fc.oneof(fc.constantFrom('none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'bogus'), json),
    scope: fc.oneof(fc.constantFrom('uuid:generate', 'openid offline_access', 'admin'), oddText, json),
    logo_uri: uri,
    client_uri: uri,
    policy_uri: uri,
    tos_uri: uri,
    jwks_uri: uri,
    jwks: fc.oneof(fc.record({ keys: fc.array(json, { maxLength: 2 }) }), json),
    software_statement: fc.oneof(fc.constant('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'), oddText),
    contacts: fc.oneof(fc.array(oddText, { maxLength: 2 }), json),
    application_type: fc.oneof(fc.constantFrom('web', 'native', 'bogus'), json),
    post_logout_redirect_uris: fc.oneof(fc.array(uri, { maxLength: 2 }), json),
    sector_identifier_uri: fc.constantFrom('https://example.com/sector.json', 'http://127.0.0.1:1/x'),
    client_id: fc.oneof(oddText, fc.constant(targets.clientId)),
  };
  const valid = { client_name: 'corpus client', redirect_uris: [targets.redirectUri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  const names = Object.keys(fields) as Array<keyof typeof fields>;
  const someChanged = fc.subarray(names, { minLength: 1, maxLength: 2 }).chain((changed) => fc.record(Object.fromEntries(changed.map((name) => [name, fields[name]])) as Partial<typeof fields>).map((values) => ({ ...valid, ...values })));
  return fc.oneof({ weight: 1, arbitrary: fc.constant(valid) }, { weight: 5, arbitrary: someChanged }, { weight: 3, arbitrary: fc.record(fields, { requiredKeys: [] }) }, { weight: 1, arbitrary: json });
}

/** POST /register, and GET/PUT/DELETE /register/:id with the management token or without. */
export function registration(targets: Targets): fc.Arbitrary<Case> {
  const managementAuth = fc.oneof(
    { weight: 4, arbitrary: fc.constant([['Authorization', `Bearer ${targets.managed.registrationAccessToken}`]] as Headers) },
    { weight: 2, arbitrary: fc.constant([] as Headers) },
    { weight: 2, arbitrary: fc.oneof(fc.constantFrom(`Bearer ${targets.accessToken}`, 'Bearer x', 'Basic eDp5'), oddHeaderValue).map((value) => [['Authorization', value]] as Headers) },
  );
  const clientPath = fc.oneof(
    { weight: 4, arbitrary: fc.constant(targets.managed.clientId) },
    { weight: 2, arbitrary: fc.oneof(fc.constant(targets.clientId), fc.constantFrom('%00', '%zz', '..', '%2F', 'a%2Fb', 'x'.repeat(5000)), fc.webSegment()) },
  );
  const bodyOf = (metadata: unknown) =>
    fc.oneof(
      { weight: 6, arbitrary: fc.constant({ type: 'application/json' as string | undefined, body: Buffer.from(JSON.stringify(metadata) ?? 'null') }) },
      { weight: 2, arbitrary: brokenEncodingOf(JSON.stringify(metadata) ?? 'null').map((body) => ({ type: 'application/json' as string | undefined, body })) },
      { weight: 1, arbitrary: fc.tuple(fc.option(contentTypes, { nil: undefined }), fc.constant(Buffer.from(JSON.stringify(metadata) ?? 'null'))).map(([type, body]) => ({ type, body })) },
      { weight: 1, arbitrary: fc.oneof(deepJson, oversized(AUTHORIZATION_BODY_LIMIT)).map((body) => ({ type: 'application/json' as string | undefined, body })) },
    );
  const create = fc.tuple(clientMetadata(targets), sometimes(fc.constantFrom('http://evil.example', 'null', `http://localhost:${targets.port}`), 1, 7))
    .chain(([metadata, origin]) => bodyOf(metadata).map((encoded) => postCase('/register', 'oauth', '/register', origin ? [['Origin', origin]] : [], encoded)));
  // The managed client is read and changed, but only deleted with a token that cannot be its own (it is needed later).
  const manage = fc.tuple(fc.constantFrom('GET', 'PUT', 'DELETE', 'POST', 'PATCH', 'HEAD'), managementAuth, clientPath, clientMetadata(targets)).chain(([method, auth, id, metadata]) => {
    const safeAuth = method === 'DELETE' && id === targets.managed.clientId ? auth.filter(([, value]) => value !== `Bearer ${targets.managed.registrationAccessToken}`) : auth;
    const target = `/register/${id}`;
    if (method === 'PUT' || method === 'POST' || method === 'PATCH') {
      const withId = metadata && typeof metadata === 'object' && !Array.isArray(metadata) ? { client_id: id, ...metadata } : metadata;
      return bodyOf(withId).map((encoded): Case => {
        const posted = postCase('/register/:id', 'oauth', target, safeAuth, encoded);
        return { ...posted, endpoint: endpointOf(method, '/register/:id'), request: { ...posted.request, method } };
      });
    }
    return fc.constant<Case>({ endpoint: endpointOf(method, '/register/:id'), area: 'oauth', request: { method, target, headers: safeAuth }, parserMayRefuse: true });
  });
  return fc.oneof({ weight: 3, arbitrary: create }, { weight: 2, arbitrary: manage });
}

/** Discovery documents, the key set, and sign-out: read-only endpoints under odd methods, queries and headers. */
export function discovery(targets: Targets): fc.Arbitrary<Case> {
  const path = fc.oneof({ weight: 3, arbitrary: wellKnownPaths }, { weight: 1, arbitrary: fc.constantFrom('/jwks', '/jwks/x', '/session/end', '/session/end/confirm', '/session/end/success', '/token/x', '/auth/x', '/revoke/x') });
  return fc.tuple(path, fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'OPTIONS', 'PUT', 'DELETE'), fc.array(fc.tuple(oddText, oddText), { maxLength: 3 }), fc.boolean(), sometimes(oddHeaderValue, 1, 2), sometimes(fc.tuple(fc.constantFrom('application/x-www-form-urlencoded', 'application/json'), fc.constant(formBody([['xsrf', 'x'], ['logout', 'yes'], ['client_id', targets.clientId]]))), 1, 1)).map(
    ([where, method, query, rawQuery, odd, body]): Case => {
      const area: Area = where.startsWith('/session/end') || where.startsWith('/auth') ? 'page-or-oauth' : 'oauth';
      const headers: Headers = odd === undefined ? [] : [['Accept', odd]];
      if (method === 'OPTIONS') headers.push(['Origin', 'http://evil.example'], ['Access-Control-Request-Method', 'GET']);
      const request = { method, target: `${where}${queryOf(query, rawQuery)}`, headers, ...(method === 'POST' && body ? { body: body[1] } : {}) };
      if (method === 'POST' && body) request.headers.push(['Content-Type', body[0]]);
      return { endpoint: endpointOf(method, where.startsWith('/.well-known/') ? '/.well-known/*' : where), area, request, parserMayRefuse: true };
    },
  );
}
