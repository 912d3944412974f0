import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { FakeGitHub } from '../support/fake-github.js';
import { FormBrowser } from '../support/form-browser.js';
import { freePort } from '../support/free-port.js';
import { signInAndAllow } from '../support/person-at-browser.js';
import { InMemoryOAuthClient, loopbackRedirect, sdkClientMetadata } from '../support/sdk-oauth-client.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';
import type { UpstreamOidc } from '../support/upstream-oidc.js';
import { signInThroughUpstream } from '../support/upstream-flow.js';
import { withGitHubAndOidc } from '../support/upstream-servers.js';

/**
 * get_user_profile through the official SDK client, which checks structuredContent against the
 * tool's outputSchema: the one schema must admit a GitHub, an OIDC and a local user's profile.
 */
describe('get_user_profile for each way of signing in (SDK client)', () => {
  let server: ServerProcess;
  let github: FakeGitHub;
  let upstream: UpstreamOidc;
  before(async () => {
    const setup = await withGitHubAndOidc(
      [{ login: 'octocat', id: 583231, name: null, publicRepos: 3, followers: 1, following: 2, bio: null, company: null, location: null }],
      [{ sub: 'alice', email: 'alice@example.com', email_verified: true, name: 'Alice', locale: 'en-GB', roles: ['reader'] }],
    );
    ({ github, oidc: upstream } = setup);
    github.signInAs('octocat');
    upstream.signInAs('alice');
    server = await startServerProcess(setup.options);
  });
  after(async () => {
    await server?.stop();
    await github?.close();
    await upstream?.close();
  });

  /** The SDK's own flow (discovery, registration, PKCE), with the person signing in `how`; the profile tool's result. */
  async function profileVia(how: 'github' | 'oidc' | 'password'): Promise<CallToolResult> {
    const redirect = loopbackRedirect(await freePort());
    const oauth = new InMemoryOAuthClient(redirect, sdkClientMetadata(redirect));
    const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), { authProvider: oauth });
    await assert.rejects(new Client({ name: 'profile-test', version: '1.0.0' }).connect(transport), UnauthorizedError);
    const browser = new FormBrowser(server.url);
    const callback = how === 'password'
      ? await signInAndAllow(browser, oauth.authorizationUrl!, ADMIN)
      : await signInThroughUpstream(browser, oauth.authorizationUrl!, how, server.url);
    await transport.finishAuth(callback.searchParams.get('code')!);
    const client = new Client({ name: 'profile-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.mcpUrl), { authProvider: oauth }));
    try {
      await client.listTools(); // the SDK validates structuredContent against the listed outputSchema from here on
      return (await client.callTool({ name: 'get_user_profile', arguments: {} })) as CallToolResult;
    } finally {
      await client.close();
    }
  }

  it('a GitHub user gets their GitHub profile, nulls included, in the contract\'s fields', async () => {
    const result = await profileVia('github');
    assert.notEqual(result.isError, true, JSON.stringify(result.content));
    const profile = result.structuredContent!;
    assert.deepEqual(Object.keys(profile).sort(), ['avatarUrl', 'bio', 'company', 'createdAt', 'followers', 'following', 'id', 'location', 'login', 'name', 'profileUrl', 'publicRepos', 'signedInWith']);
    assert.equal(profile.signedInWith, 'github');
    assert.equal(profile.login, 'octocat');
    assert.equal(profile.name, null);
    assert.equal(profile.publicRepos, 3);
    assert.match(JSON.stringify(result.content), /octocat/);
  });

  it('an OIDC user gets the issuer, subject, e-mail and the claims, without the token\'s own claims', async () => {
    const result = await profileVia('oidc');
    assert.notEqual(result.isError, true, JSON.stringify(result.content));
    const profile = result.structuredContent!;
    assert.deepEqual(Object.keys(profile).sort(), ['claims', 'email', 'emailVerified', 'id', 'issuer', 'name', 'signedInWith', 'subject']);
    assert.equal(profile.issuer, upstream.issuer);
    assert.equal(profile.subject, 'alice');
    assert.equal(profile.email, 'alice@example.com');
    assert.equal(profile.emailVerified, true);
    const claims = profile.claims as Record<string, unknown>;
    assert.equal(claims.locale, 'en-GB');
    assert.deepEqual(claims.roles, ['reader']);
    assert.equal(claims.iss, upstream.issuer);
    assert.equal(claims.nonce, undefined);
    assert.equal(claims.exp, undefined);
  });

  it('a local user gets the local profile', async () => {
    const result = await profileVia('password');
    assert.notEqual(result.isError, true, JSON.stringify(result.content));
    const profile = result.structuredContent!;
    assert.deepEqual(Object.keys(profile).sort(), ['id', 'name', 'signedInWith', 'username']);
    assert.equal(profile.signedInWith, 'password');
    assert.equal(profile.username, 'admin');
    assert.equal(profile.name, 'Administrator');
  });
});
