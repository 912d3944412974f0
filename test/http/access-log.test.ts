import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accessLine, redactUrl } from '../../src/http/access-log.js';

describe('the access log never prints secrets from URLs', () => {
  it('redacts codes, state, verifiers, tokens and passwords in query strings', () => {
    const logged = redactUrl('/cb?code=SECRETCODE&state=S1&iss=http%3A%2F%2Flocalhost&code_verifier=V&access_token=A&refresh_token=R&password=P&client_secret=C&scope=uuid%3Agenerate');
    for (const secret of ['SECRETCODE', 'S1', '=V', '=A&', '=R&', '=P&', '=C&']) assert.ok(!logged.includes(secret), `${secret} in ${logged}`);
    assert.match(logged, /scope=uuid%3Agenerate/, 'harmless parameters stay');
    assert.match(logged, /code=REDACTED/);
  });

  it('leaves URLs without secrets alone', () => {
    assert.equal(redactUrl('/auth?client_id=abc&response_type=code'), '/auth?client_id=abc&response_type=code');
    assert.equal(redactUrl('/mcp'), '/mcp');
    assert.equal(redactUrl(undefined), '-');
  });

  it('matches parameter names regardless of case', () => {
    assert.doesNotMatch(redactUrl('/x?Code=abc'), /abc/);
  });
});

/** The access line of a request and its response, as Node and Express hand them over, `elapsedMs` after it began. */
function lineFor(request: { method?: string; url?: string; headers?: Record<string, string>; ip?: string }, response: { sent: boolean; status?: number; headers?: Record<string, string> }, elapsedMs: number): string {
  const req = { method: request.method ?? 'GET', url: request.url ?? '/', originalUrl: request.url ?? '/', ip: request.ip ?? '127.0.0.1', headers: request.headers ?? {}, httpVersionMajor: 1, httpVersionMinor: 1, socket: {} };
  const res = { headersSent: response.sent, statusCode: response.status ?? 200, getHeader: (name: string) => response.headers?.[name.toLowerCase()] };
  return accessLine(req as unknown as Parameters<typeof accessLine>[0], res as unknown as Parameters<typeof accessLine>[1], elapsedMs);
}

/** How the tests' log reader (test/support/server-log.ts) reads an access line. */
const ACCESS_LINE = /^\S+ - \[[^\]]+\] "(\S+) (\S+) HTTP\/[\d.]+" (\d{3}) \S+ "[^"]*" "([^"]*)"/;

describe('an access log line', () => {
  it('has the seed\'s morgan "combined"-like layout: address, ISO date, request line, status, length, referrer, user agent, time in ms', () => {
    const line = lineFor({ method: 'POST', url: '/token', headers: { 'user-agent': 'curl/8', referer: 'http://localhost/x?code=SECRET' } }, { sent: true, status: 400, headers: { 'content-length': '57' } }, 1.23456);
    assert.match(line, /^127\.0\.0\.1 - \[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "POST \/token HTTP\/1\.1" 400 57 "http:\/\/localhost\/x\?code=REDACTED" "curl\/8" 1\.235 ms$/);
    assert.deepEqual(ACCESS_LINE.exec(line)?.slice(1), ['POST', '/token', '400', 'curl/8']);
  });

  it('shows "-" for what is absent: no status or length when no response was sent, no referrer, no user agent', () => {
    const line = lineFor({ url: '/mcp' }, { sent: false }, 0);
    assert.match(line, /"GET \/mcp HTTP\/1\.1" - - "-" "-" 0\.000 ms$/);
  });

  it('escapes quotes, backslashes and control characters, so a crafted User-Agent cannot end the field or forge a second line', () => {
    const line = lineFor({ headers: { 'user-agent': 'x" 200 "\\\n127.0.0.1 - [forged]' } }, { sent: true }, 0);
    assert.equal(line.split('\n').length, 1);
    assert.ok(line.includes('"x\\" 200 \\"\\\\\\n127.0.0.1 - [forged]"'), line);
    assert.deepEqual(ACCESS_LINE.exec(line)?.slice(1), ['GET', '/', '200', 'x\\']);
  });
});
