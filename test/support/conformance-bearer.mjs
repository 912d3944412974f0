// Loaded with `node --import` into the MCP conformance CLI, which has no way to send credentials:
// adds `Authorization: Bearer $CONFORMANCE_BEARER_TOKEN` to its requests to
// $CONFORMANCE_TARGET_ORIGIN (and only there) that carry none. The suite sends requests two ways,
// so both are covered: global fetch (its SDK client and raw requests) and undici's `request`
// (dns-rebinding-protection, which must set a Host header), resolved from the suite's own
// package ($CONFORMANCE_PACKAGE_DIR) as the suite resolves it. The token is never printed.
import { createRequire } from 'node:module';
import path from 'node:path';

const token = process.env.CONFORMANCE_BEARER_TOKEN;
const target = process.env.CONFORMANCE_TARGET_ORIGIN;
const packageDir = process.env.CONFORMANCE_PACKAGE_DIR;
if (!token || !target || !packageDir) {
  throw new Error('conformance-bearer.mjs needs CONFORMANCE_BEARER_TOKEN, CONFORMANCE_TARGET_ORIGIN and CONFORMANCE_PACKAGE_DIR');
}
const authorization = `Bearer ${token}`;
const isTarget = (url) => URL.parse(String(url))?.origin === target;

const plainFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = input instanceof Request ? input.url : input;
  if (!isTarget(url)) return plainFetch(input, init);
  // A copy: the suite records the headers it passed in its checks.json, and the token must not land there.
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  if (!headers.has('authorization')) headers.set('authorization', authorization);
  return plainFetch(input, { ...init, headers });
};

/** undici accepts headers as an object, a flat [name, value, …] array, or an iterable of pairs. */
function withAuthorization(headers) {
  if (headers == null) return { authorization };
  if (Array.isArray(headers)) {
    const pairs = Array.isArray(headers[0]);
    const names = pairs ? headers.map(([name]) => name) : headers.filter((_, index) => index % 2 === 0);
    if (names.some((name) => String(name).toLowerCase() === 'authorization')) return headers;
    return pairs ? [...headers, ['authorization', authorization]] : [...headers, 'authorization', authorization];
  }
  const entries = typeof headers[Symbol.iterator] === 'function' ? [...headers] : Object.entries(headers);
  if (entries.some(([name]) => name.toLowerCase() === 'authorization')) return headers;
  return { ...Object.fromEntries(entries), authorization };
}

const undici = createRequire(path.join(packageDir, 'package.json'))('undici');
const addBearer = (dispatch) => (options, handler) => {
  if (!isTarget(options.origin)) return dispatch(options, handler);
  return dispatch({ ...options, headers: withAuthorization(options.headers) }, handler);
};
undici.setGlobalDispatcher(undici.getGlobalDispatcher().compose(addBearer));
