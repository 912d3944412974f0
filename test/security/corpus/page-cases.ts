import fc from 'fast-check';
import { endpointOf, type Case, type Targets } from './case.js';
import { brokenEncodingOf, contentTypes, formBody, oddHeaderValue, oddText, oversized, parameterList, queryOf } from './pieces.js';

/** The sign-in and consent pages (/interaction/:uid and its forms) and the home page. */

type Headers = Array<[string, string | Buffer]>;

function uids(targets: Targets): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(targets.interaction.uid) },
    { weight: 2, arbitrary: fc.oneof(fc.webSegment(), fc.constantFrom('%00', '%zz', '%E0%A4%A', '..', '%2e%2e', `${targets.interaction.uid}x`, 'x'.repeat(4000), '__proto__')) },
  );
}

function cookies(targets: Targets): fc.Arbitrary<Headers> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant([['Cookie', targets.interaction.cookie]] as Headers) },
    { weight: 2, arbitrary: fc.constant([] as Headers) },
    { weight: 2, arbitrary: fc.oneof(fc.constantFrom('_interaction=x; _interaction.sig=y', '_interaction=', '=;=;', `${targets.interaction.cookie}; ${targets.interaction.cookie}`, `_interaction=${'a'.repeat(4000)}`), oddHeaderValue).map((value) => [['Cookie', value]] as Headers) },
  );
}

/** GET /interaction/:uid with the browser's cookies, without them, or for a uid that is not one. */
export function interactionPage(targets: Targets): fc.Arbitrary<Case> {
  return fc.tuple(fc.constantFrom('GET', 'GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'), uids(targets), cookies(targets), fc.array(fc.tuple(oddText, oddText), { maxLength: 2 })).map(([method, uid, cookie, query]): Case => ({
    endpoint: endpointOf(method, '/interaction/:uid'),
    area: 'page',
    request: { method, target: `/interaction/${uid}${queryOf(query)}`, headers: cookie },
    parserMayRefuse: true,
  }));
}

/**
 * The forms' POSTs: CSRF token real or not, fields duplicated, JSON instead of a form, oversized.
 * Never the real password (the sign-in would go through) and never abort or switch with the real
 * CSRF token and cookie (the authorization in progress would end): later cases need it open.
 */
export function interactionForms(targets: Targets): fc.Arbitrary<Case> {
  const fields = parameterList({
    csrf: fc.oneof({ weight: 4, arbitrary: fc.constant(targets.interaction.csrf) }, { weight: 2, arbitrary: oddText }),
    username: fc.oneof(fc.constantFrom('admin', 'ADMIN', 'admin ', 'nobody'), oddText),
    password: oddText,
    document: oddText,
    consent: oddText,
  });
  const body = (pairs: Array<[string, string]>) =>
    fc.oneof(
      { weight: 8, arbitrary: fc.constant({ type: 'application/x-www-form-urlencoded' as string | undefined, body: formBody(pairs) }) },
      { weight: 1, arbitrary: brokenEncodingOf(formBody(pairs).toString('utf8')).map((bytes) => ({ type: 'application/x-www-form-urlencoded' as string | undefined, body: bytes })) },
      { weight: 1, arbitrary: fc.option(contentTypes, { nil: undefined }).map((type) => ({ type, body: Buffer.from(JSON.stringify(Object.fromEntries(pairs))) })) },
      { weight: 1, arbitrary: oversized(64 * 1024).map((bytes) => ({ type: 'application/x-www-form-urlencoded' as string | undefined, body: bytes })) },
    );
  return fc
    .tuple(fc.constantFrom('login', 'login', 'login', 'confirm', 'switch', 'abort', 'unknown'), uids(targets), cookies(targets), fields, fc.oneof({ weight: 4, arbitrary: fc.constant(`http://localhost:${targets.port}`) }, { weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('http://evil.example', 'null') }))
    .chain(([action, uid, cookie, pairs, origin]) => {
      const live = uid === targets.interaction.uid && cookie.some(([, value]) => value === targets.interaction.cookie);
      const safePairs = (action === 'abort' || action === 'switch') && live ? pairs.filter(([name, value]) => !(name === 'csrf' && value === targets.interaction.csrf)) : pairs;
      return body(safePairs).map((encoded): Case => {
        const headers: Headers = [...cookie];
        if (encoded.type !== undefined) headers.push(['Content-Type', encoded.type]);
        if (origin) headers.push(['Origin', origin]);
        return { endpoint: endpointOf('POST', `/interaction/:uid/${action}`), area: 'page', request: { method: 'POST', target: `/interaction/${uid}/${action}`, headers, body: encoded.body }, parserMayRefuse: true };
      });
    });
}

/** The home page under every method, with odd queries. */
export function homePage(): fc.Arbitrary<Case> {
  return fc.tuple(fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'), fc.array(fc.tuple(oddText, oddText), { maxLength: 3 }), fc.boolean()).map(([method, query, raw]): Case => ({
    endpoint: endpointOf(method, '/'),
    area: 'page',
    request: { method, target: `/${queryOf(query, raw)}`, headers: method === 'POST' ? [['Content-Type', 'application/json']] : [], ...(method === 'POST' ? { body: Buffer.from('{"a":') } : {}) },
    parserMayRefuse: true,
  }));
}
