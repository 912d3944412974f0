import fc from 'fast-check';
import { endpointOf, type Case, type Targets } from './case.js';
import { invalidUtf8, knownMethods, oddHeaderValue, oddText, percentEncode } from './pieces.js';

/** HTTP itself: unknown paths and methods, request targets and framing no client should send, huge and odd headers. */

type Headers = Array<[string, string | Buffer]>;

/** Paths nothing serves, and encodings of served ones Express and the provider must not trip over. */
const oddPaths = fc.oneof(
  fc.webPath().map((path) => path || '/'),
  fc.constantFrom(
    '/%', '/%zz', '/%E0%A4%A', '/%00', '/%c0%ae%c0%ae/', '/mcp/x', '/MCP', '//mcp', '/mcp%2f', '/mcp;a=b', '/mcp/', '/token/', '/register/', '/interaction/',
    '/interaction/%zz/login', '/static/..%2f..%2fpackage.json', '/static/%2e%2e/%2e%2e/package.json', '/static/', '/static/%00', '/static/nope.css',
    '/healthz/x', '/healthz?x=%zz', '/jwks?%', '/.env', '/dist/index.js', '/data/uuid.sqlite', '/node_modules/', '/favicon.ico', '/robots.txt',
    '/mcp?access_token=x', `/${'a/'.repeat(3000)}`, `/${'%41'.repeat(3000)}`,
  ),
  oddText.map((text) => `/${percentEncode(text)}`),
);

/** Served and unserved paths under every method Node's parser knows. */
export function pathsAndMethods(): fc.Arbitrary<Case> {
  return fc.tuple(knownMethods, oddPaths, fc.option(fc.uint8Array({ maxLength: 64 }), { freq: 3, nil: undefined })).map(([method, target, body]): Case => ({
    endpoint: 'other paths',
    area: 'any',
    request: { method, target, headers: body ? [['Content-Type', 'application/octet-stream']] : [], ...(body ? { body: Buffer.from(body) } : {}) },
    parserMayRefuse: true,
  }));
}

/** /healthz and /static under odd methods and headers: both answer before any check of a token. */
export function operations(): fc.Arbitrary<Case> {
  return fc.tuple(fc.constantFrom('/healthz', '/static/style.css', '/static/nope.js'), knownMethods, fc.option(oddHeaderValue, { nil: undefined })).map(([path, method, odd]): Case => ({
    endpoint: endpointOf(method, path.startsWith('/static') ? '/static/*' : path),
    area: 'oauth',
    request: { method, target: path, headers: odd === undefined ? [] : [['If-None-Match', odd], ['Range', odd]] },
    parserMayRefuse: true,
  }));
}

/** Headers odd in size, number, bytes, or meaning (Host, duplicated framing headers), on real endpoints. */
export function oddHeaders(targets: Targets): fc.Arbitrary<Case> {
  const headerSets: fc.Arbitrary<Headers> = fc.oneof(
    fc.integer({ min: 17, max: 64 }).map((kib) => [['X-Padding', 'a'.repeat(kib * 1024)]] as Headers),
    fc.integer({ min: 100, max: 3000 }).map((count) => Array.from({ length: count }, (_, i) => [`X-H${i}`, 'v'] as [string, string])),
    fc.array(fc.tuple(fc.constantFrom('Accept', 'Content-Type', 'Authorization', 'Cookie', 'Origin', 'Host', 'Mcp-Session-Id', 'MCP-Protocol-Version', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'Forwarded', 'Accept-Encoding', 'Content-Encoding', 'Expect', 'Upgrade', 'If-Modified-Since', 'Accept-Language'), oddHeaderValue), { minLength: 1, maxLength: 4 }),
    fc.constantFrom<Headers>([['Host', 'evil.example']], [['Host', '']], [['Host', '[::1]']], [['Host', 'localhost:1'], ['Host', 'localhost:2']], [['Content-Encoding', 'gzip']], [['Content-Encoding', 'br, gzip']], [['Expect', '100-continue']], [['Transfer-Encoding', 'gzip']], [['Upgrade', 'websocket'], ['Connection', 'Upgrade']]),
    invalidUtf8.map((bad) => [['X-Bad', bad]] as Headers),
  );
  const where = fc.constantFrom<[string, string, Case['area']]>(['POST', '/mcp', 'mcp'], ['GET', '/mcp', 'mcp'], ['POST', '/token', 'oauth'], ['POST', '/register', 'oauth'], ['GET', '/auth', 'page-or-oauth'], ['GET', '/healthz', 'oauth'], ['GET', '/.well-known/oauth-authorization-server', 'oauth'], ['GET', `/interaction/${targets.interaction.uid}`, 'page']);
  return fc.tuple(where, headerSets).map(([[method, path, area], headers]): Case => {
    const all: Headers = path === '/mcp' ? [['Authorization', `Bearer ${targets.accessToken}`], ...headers] : headers;
    const body = method === 'POST' ? Buffer.from(path === '/mcp' ? '{"jsonrpc":"2.0","id":1,"method":"ping"}' : '{}') : undefined;
    if (body && !all.some(([name]) => name.toLowerCase() === 'content-type')) all.push(['Content-Type', 'application/json']);
    return { endpoint: `odd headers: ${endpointOf(method, path.startsWith('/interaction/') ? '/interaction/:uid' : path)}`, area, request: { method, target: path, headers: all, ...(body ? { body } : {}) }, parserMayRefuse: true };
  });
}

/** Bytes that are not a well-formed HTTP/1.1 request: the parser must refuse them without a crash, in JSON. */
export function malformedRequests(targets: Targets): fc.Arbitrary<Case> {
  const host = `Host: localhost:${targets.port}\r\n`;
  const lines = fc.oneof(
    fc.constantFrom(
      'FOO / HTTP/1.1\r\n', 'GET / HTTP/2.0\r\n', 'GET / HTTP/1.1 extra\r\n', 'GET  / HTTP/1.1\r\n', 'GET /\r\n', 'get / HTTP/1.1\r\n', 'GET / http/1.1\r\n',
      ' GET / HTTP/1.1\r\n', 'GET\t/\tHTTP/1.1\r\n', '\r\n\r\nGET / HTTP/1.1\r\n', 'GET /\u0000 HTTP/1.1\r\n', 'CONNECT localhost:1 HTTP/1.1\r\n', 'GET * HTTP/1.1\r\n',
      `GET http://localhost:${targets.port}/healthz HTTP/1.1\r\n`, 'GET /healthz HTTP/1.0\r\n', 'GET /healthz HTTP/0.9\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n',
    ).map((line) => Buffer.from(`${line}${line.includes('HTTP/1.0') ? '' : host}Connection: close\r\n\r\n`, 'latin1')),
    fc.constantFrom(
      `POST /token HTTP/1.1\r\n${host}Content-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nabcdef`,
      `POST /token HTTP/1.1\r\n${host}Content-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
      `POST /mcp HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
      `POST /mcp HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\n{}]\r\n0\r\n\r\n`,
      `POST /token HTTP/1.1\r\n${host}Content-Length: -1\r\nConnection: close\r\n\r\n`,
      `POST /token HTTP/1.1\r\n${host}Content-Length: abc\r\nConnection: close\r\n\r\n`,
      `POST /token HTTP/1.1\r\n${host}Content-Length: 99999999999999999999\r\nConnection: close\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\n${host}Bad Header: x\r\nConnection: close\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\n${host}:empty-name\r\nConnection: close\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\n${host}X-Folded: a\r\n folded\r\nConnection: close\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n`,
      `GET /healthz HTTP/1.1\n${host}Connection: close\n\n`,
      `GET /healthz HTTP/1.1\r\n${host}X: a\rb\r\nConnection: close\r\n\r\n`,
      `POST /mcp HTTP/1.1\r\n${host}Content-Length: 2\r\nConnection: close\r\n\r\n{}GET / HTTP/1.1\r\n\r\n`,
    ).map((text) => Buffer.from(text, 'latin1')),
    // Bytes that are only CR and LF are blank lines, which a server ignores before a request line
    // (RFC 9112 §2.2): it rightly waits for the request (until its 20 s headers timeout) instead of answering.
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 200 }).filter((bytes) => bytes.some((byte) => byte !== 0x0d && byte !== 0x0a)), fc.boolean()).map(([bytes, asLine]) => Buffer.concat([Buffer.from(bytes), Buffer.from(asLine ? ' / HTTP/1.1\r\n\r\n' : '\r\n\r\n')])),
    fc.tuple(invalidUtf8, fc.constantFrom('/mcp', '/token', '/auth', '/interaction/')).map(([bad, path]) => Buffer.concat([Buffer.from(`GET ${path}`), bad, Buffer.from(` HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)])),
  );
  return lines.map((raw): Case => ({ endpoint: 'malformed HTTP', area: 'any', request: { method: 'GET', target: '/', headers: [] }, raw, parserMayRefuse: true }));
}
