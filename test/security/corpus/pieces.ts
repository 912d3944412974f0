import fc from 'fast-check';

/**
 * Building blocks shared by the corpus's request generators: odd strings and bytes, broken
 * encodings of a body, and header values a client should never send.
 */

/** Bytes that are not UTF-8: lone continuation bytes, overlongs, surrogates encoded, truncated sequences. */
export const invalidUtf8 = fc.constantFrom(
  Buffer.from([0x80]),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from([0xe2, 0x82]),
  Buffer.from([0xff, 0xfe]),
  Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
);

/** Text a parameter might hold: short, unicode, control characters, very long, lookalikes of real values. */
export const oddText = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\u0000', '%00', '%', '%zz', '%C0%AF', '\r\n', 'null', 'undefined', '[]', '{}', '__proto__', 'constructor', '../../etc/passwd', '<script>alert(1)</script>', "' OR 1=1 --", '\uFEFF', '\uD800', 'ｕｕｉｄ', 'true', '-1', '1e309', 'NaN') },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 6_000 }).map((n) => 'x'.repeat(n)) },
);

/** A body in some broken form of `text`: cut short, trailing garbage, invalid UTF-8 inside, a BOM, UTF-16. */
export function brokenEncodingOf(text: string): fc.Arbitrary<Buffer> {
  const bytes = Buffer.from(text, 'utf8');
  return fc.oneof(
    fc.nat({ max: Math.max(0, bytes.length - 1) }).map((cut) => bytes.subarray(0, cut)),
    fc.constantFrom('}', ']', ',', 'garbage', '\u0000', '"', '{"a":1}').map((tail) => Buffer.concat([bytes, Buffer.from(tail)])),
    fc.tuple(fc.nat({ max: bytes.length }), invalidUtf8).map(([at, bad]) => Buffer.concat([bytes.subarray(0, at), bad, bytes.subarray(at)])),
    fc.constant(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes])),
    fc.constant(Buffer.from(text, 'utf16le')),
  );
}

/** JSON nested this deep (arrays or objects), to find recursion limits; built once, they are large. */
const NESTED = [64, 1_000, 10_000, 100_000].flatMap((depth) => [
  Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`),
  Buffer.from(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
]);
export const deepJson = fc.constantFrom(...NESTED);

/** A body just over, or far over, a byte limit (the server must refuse it, not buffer it all). */
export function oversized(limit: number): fc.Arbitrary<Buffer> {
  return fc.constantFrom(limit + 1, limit + 4096, limit * 2).map((size) => Buffer.alloc(size, 0x61));
}

/** Content-Type values: right, wrong, absent-ish, with odd parameters and charsets. */
export const contentTypes = fc.constantFrom(
  'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/json; charset=bogus',
  'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-16', 'text/plain', 'text/html', 'multipart/form-data; boundary=xyz',
  'application/octet-stream', 'application/jwt', 'application/*', '*/*', '', ';', 'application/json;;;', 'APPLICATION/JSON', 'application/json, text/plain',
);

/** Header values with bytes a client should not send (those Node's parser accepts reach the app). */
export const oddHeaderValue: fc.Arbitrary<string | Buffer> = fc.oneof(
  oddText.filter((text) => !/[\r\n\0]/.test(text)),
  invalidUtf8,
  fc.constantFrom(Buffer.from('a\u0001b', 'latin1'), Buffer.from('\t', 'latin1'), Buffer.from('a\u007fb', 'latin1'), Buffer.from([0xc3, 0xa9])),
);

/** Percent-encodes the UTF-8 bytes of `text` (a lone surrogate, which encodeURIComponent throws on, becomes U+FFFD's). */
export function percentEncode(text: string): string {
  return encodeURIComponent(Buffer.from(text, 'utf8').toString('utf8'));
}

/** A URL-encoded form from pairs, each side percent-encoded as a browser would, or sent as given when `raw`. */
export function formBody(pairs: Array<[string, string]>, raw = false): Buffer {
  if (raw) return Buffer.from(pairs.map(([name, value]) => `${name}=${value}`).join('&'), 'utf8');
  return Buffer.from(pairs.map(([name, value]) => `${percentEncode(name)}=${percentEncode(value)}`).join('&'));
}

/** A query string, the same way. */
export function queryOf(pairs: Array<[string, string]>, raw = false): string {
  return pairs.length === 0 ? '' : `?${formBody(pairs, raw).toString('utf8')}`;
}

/**
 * A parameter list built from `fields` (name → arbitrary of its value), where each field may be
 * left out, sent once, or sent twice with different values (the duplicated and conflicting
 * parameters RFC 6749 §3.1 says must be refused), plus a few unknown ones.
 */
export function parameterList(fields: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<Array<[string, string]>> {
  const entries = Object.entries(fields).map(([name, value]) =>
    fc.oneof(
      { weight: 1, arbitrary: fc.constant([] as Array<[string, string]>) },
      { weight: 5, arbitrary: value.map((v) => [[name, v]] as Array<[string, string]>) },
      { weight: 1, arbitrary: fc.tuple(value, value).map(([a, b]) => [[name, a], [name, b]] as Array<[string, string]>) },
    ),
  );
  const unknown = fc.array(fc.tuple(fc.oneof(oddText, fc.constantFrom('request', 'request_uri', 'nonce', 'prompt', 'claims', 'max_age', 'ui_locales', 'id_token_hint', 'response_mode', 'dpop_jkt', 'authorization_details')), oddText), { maxLength: 3 });
  return fc.tuple(fc.tuple(...entries), unknown, fc.boolean()).map(([lists, extra, shuffled]) => {
    const pairs = [...lists.flat(), ...extra];
    return shuffled ? pairs.reverse() : pairs;
  });
}

/** redirect_uri values that must all be refused unless registered exactly (or loopback with another port). */
export function oddRedirectUris(registered: string): fc.Arbitrary<string> {
  const url = new URL(registered);
  const port = url.port;
  return fc.oneof(
    fc.constantFrom(
      registered,
      `${registered}#fragment`,
      `${registered}?extra=1`,
      `${registered}/`,
      `${registered}%00`,
      `${registered}%2F..%2Fother`,
      `http://user:pass@127.0.0.1:${port}${url.pathname}`,
      `http://127.0.0.1@evil.example${url.pathname}`,
      `http://[::1]:${port}${url.pathname}`,
      `http://[::ffff:127.0.0.1]:${port}${url.pathname}`,
      `http://localhost:${port}${url.pathname}`,
      `http://127.0.0.1:${Number(port) + 1}${url.pathname}`,
      `http://127.0.0.1${url.pathname}`,
      `http://0x7f.0.0.1:${port}${url.pathname}`,
      `http://2130706433:${port}${url.pathname}`,
      `HTTP://127.0.0.1:${port}${url.pathname}`,
      `https://127.0.0.1:${port}${url.pathname}`,
      'https://xn--80ak6aa92e.com/callback',
      'https://пример.испытание/callback',
      'https://example.com/callback',
      'javascript:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'file:///etc/passwd',
      '/callback',
      'callback',
      '//evil.example/callback',
      'http:/\\evil.example',
      'com.example.app:/callback',
      'urn:ietf:wg:oauth:2.0:oob',
      `http://127.0.0.1:${port}${url.pathname}\u0000`,
      `${registered}${'a'.repeat(9000)}`,
      '',
      ' ',
    ),
    fc.webUrl({ withFragments: true, withQueryParameters: true }),
    oddText,
  );
}

/** Names of well-known and near-miss paths. */
export const wellKnownPaths = fc.constantFrom(
  '/.well-known/oauth-authorization-server',
  '/.well-known/openid-configuration',
  '/.well-known/oauth-protected-resource',
  '/.well-known/oauth-protected-resource/mcp',
  '/.well-known/oauth-protected-resource/sse',
  '/.well-known/oauth-authorization-server/mcp',
  '/.well-known/openid-configuration/mcp',
  '/.well-known/oauth-protected-resource/mcp/x',
  '/.well-known/',
  '/.well-known/unknown',
  '/.well-known/oauth-protected-resource%2Fmcp',
);

/** Request methods Node's parser knows (the others it refuses itself). */
export const knownMethods = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH', 'PURGE', 'REPORT', 'TRACE');

/**
 * Parts of a request that are right in `valid`: sent all right, or with one part drawn from its
 * arbitrary (which may hold wrong values), or with every part drawn. Perturbing one thing at a
 * time is what gets most cases past the first check to the handler behind it.
 */
export function mostlyValid<T extends unknown[]>(valid: T, parts: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  const arbitraries = parts as unknown as Array<fc.Arbitrary<unknown>>;
  const oneChanged = fc.nat({ max: valid.length - 1 }).chain((index) => arbitraries[index]!.map((value) => valid.map((part, at) => (at === index ? value : part)) as T));
  return fc.oneof({ weight: 3, arbitrary: fc.constant(valid) }, { weight: 5, arbitrary: oneChanged }, { weight: 2, arbitrary: fc.tuple(...arbitraries) as unknown as fc.Arbitrary<T> });
}

/** `arbitrary`'s value in `present` of every `present + absent` cases, undefined otherwise. */
export function sometimes<T>(arbitrary: fc.Arbitrary<T>, present: number, absent: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: present, arbitrary }, { weight: absent, arbitrary: fc.constant(undefined) });
}
