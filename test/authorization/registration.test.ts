import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeRegistration } from '../../src/authorization/registration.js';
import { advertisedScopes } from '../../src/authorization/scopes.js';
import { OAuthHttpError } from '../../src/errors.js';

const normalize = (body: unknown) => normalizeRegistration(body, advertisedScopes);

describe('registration bodies as real clients send them', () => {
  it("Gemini CLI's body: the empty scope is dropped and its loopback redirect makes it a native app", () => {
    const gemini = {
      client_name: 'Gemini CLI MCP Client',
      redirect_uris: ['http://localhost:36263/oauth/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: '',
    };
    const normalized = normalize(gemini)!;
    assert.equal('scope' in normalized, false);
    assert.equal(normalized.application_type, 'native');
    assert.deepEqual(normalized.grant_types, gemini.grant_types);
    assert.equal(normalized.client_name, 'Gemini CLI MCP Client');
  });

  it('keeps an explicit application_type, and leaves https-only clients as web clients', () => {
    assert.equal(normalize({ redirect_uris: ['http://127.0.0.1/cb'], application_type: 'web' })!.application_type, 'web');
    assert.equal(normalize({ redirect_uris: ['https://app.example.com/cb'] })!.application_type, undefined);
  });

  it('gives a client without grant_types refresh tokens too', () => {
    assert.deepEqual(normalize({ redirect_uris: ['http://127.0.0.1/cb'] })!.grant_types, ['authorization_code', 'refresh_token']);
  });

  it('keeps known scopes, drops unknown ones, and always allows openid and offline_access', () => {
    assert.equal(normalize({ redirect_uris: ['http://127.0.0.1/cb'], scope: 'uuid:generate email profile' })!.scope, 'openid offline_access uuid:generate');
    assert.equal('scope' in normalize({ redirect_uris: ['http://127.0.0.1/cb'], scope: 'email profile' })!, false);
  });

  it('drops null and empty optional fields (extra fields are left for the provider)', () => {
    const normalized = normalize({ redirect_uris: ['http://127.0.0.1/cb'], logo_uri: null, client_uri: '', software_id: 'x', custom: 1 })!;
    assert.equal('logo_uri' in normalized, false);
    assert.equal('client_uri' in normalized, false);
    assert.equal(normalized.software_id, 'x');
    assert.equal(normalized.custom, 1);
  });

  it('refuses http redirect URIs that are not loopback, naming which one', () => {
    assert.throws(() => normalize({ redirect_uris: ['http://127.0.0.1/cb', 'http://evil.example/cb'] }), (error: unknown) => {
      assert.ok(error instanceof OAuthHttpError);
      assert.equal(error.status, 400);
      assert.equal(error.error, 'invalid_redirect_uri');
      assert.match(error.description, /redirect_uris\[1\]/);
      return true;
    });
  });

  it('leaves bodies that are not JSON objects for the provider to refuse', () => {
    for (const body of [undefined, null, 'text', 42, [1, 2]]) assert.equal(normalize(body), undefined);
  });
});
