import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactUrl } from '../../src/http/access-log.js';

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
