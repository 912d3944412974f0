import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { githubVerdict, oidcVerdict } from '../../src/authorization/upstream/allowlist.js';

describe('GitHub allowlist', () => {
  it('admits everyone when no list is set', () => {
    assert.deepEqual(githubVerdict({ allowedUsers: [], allowedOrgs: [] }, 'anyone', undefined), { allowed: true });
  });

  it('admits a listed login in any case, or a member of a listed organisation in any case; refuses the rest saying which rules', () => {
    const settings = { allowedUsers: ['octocat'], allowedOrgs: ['acme'] };
    assert.equal(githubVerdict(settings, 'OctoCat', undefined).allowed, true);
    assert.equal(githubVerdict(settings, 'mona', ['other', 'ACME']).allowed, true);
    const refused = githubVerdict(settings, 'mona', ['other']);
    assert.equal(refused.allowed, false);
    assert.ok(!refused.allowed && refused.who === 'GitHub user mona');
    assert.ok(!refused.allowed && refused.reason === 'mona is not one of the GitHub accounts allowed and is not a member of the organisation acme.');
    assert.equal(githubVerdict({ allowedUsers: ['octocat'], allowedOrgs: [] }, 'mona', undefined).allowed, false);
  });
});

describe('OIDC allowlist', () => {
  const base = { allowedEmailDomains: [] as string[], requiredClaim: undefined, name: 'IdP' };

  it('admits anyone when nothing is required', () => {
    assert.equal(oidcVerdict(base, { sub: 's' }).allowed, true);
  });

  it('needs a verified e-mail in an allowed domain (the domain in any case)', () => {
    const settings = { ...base, allowedEmailDomains: ['example.com'] };
    assert.equal(oidcVerdict(settings, { sub: 's', email: 'a@Example.COM', email_verified: true }).allowed, true);
    assert.equal(oidcVerdict(settings, { sub: 's', email: 'a@example.com', email_verified: 'true' }).allowed, false, 'the string "true" is not verification');
    assert.equal(oidcVerdict(settings, { sub: 's', email: 'a@example.com.evil.org', email_verified: true }).allowed, false);
    assert.equal(oidcVerdict(settings, { sub: 's', email: 'a@sub.example.com', email_verified: true }).allowed, false, 'a subdomain is another domain');
    const none = oidcVerdict(settings, { sub: 's' });
    assert.ok(!none.allowed && /gave no e-mail address/.test(none.reason));
  });

  it('needs the claim to equal the value, or be a list containing it', () => {
    const settings = { ...base, requiredClaim: { name: 'groups', value: 'mcp' } };
    assert.equal(oidcVerdict(settings, { sub: 's', groups: ['x', 'mcp'] }).allowed, true);
    assert.equal(oidcVerdict(settings, { sub: 's', groups: 'mcp' }).allowed, true);
    assert.equal(oidcVerdict(settings, { sub: 's', groups: ['mcp-users'] }).allowed, false);
    assert.equal(oidcVerdict(settings, { sub: 's', groups: 'mcp2' }).allowed, false);
    assert.equal(oidcVerdict(settings, { sub: 's' }).allowed, false);
    assert.equal(oidcVerdict({ ...base, requiredClaim: { name: 'tenant_ok', value: 'true' } }, { sub: 's', tenant_ok: true }).allowed, true, 'a boolean compared as text');
  });
});
