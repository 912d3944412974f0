import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { MCPServerConfig } from '@google/gemini-cli-core';
import type { FakeGitHub } from '../support/fake-github.js';
import { assertMcpPostsCarried } from '../support/fetch-recorder.js';
import {
  assertGeminiAuthorized,
  geminiMcpContext,
  geminiTestbed,
  signInThroughGemini,
  storedCredentials,
  withGeminiTools,
} from '../support/gemini-cli.js';
import { parseForms, visibleText } from '../support/forms.js';
import { isConsentPage } from '../support/page-steps.js';
import { withFakeGitHub } from '../support/upstream-servers.js';
import { isUuidV4 } from '../support/uuids.js';

/**
 * Gemini CLI's own MCP OAuth code (`@google/gemini-cli-core`, as test/clients/gemini-cli.test.ts
 * drives it) against a server whose users sign in with GitHub: `/mcp auth` runs Gemini's
 * discovery, registration and PKCE; the person clicks "Sign in with GitHub" on our login page, the
 * local GitHub (test/support/fake-github.ts) sends the browser back to our callback, the person
 * allows on our consent page; then Gemini's startup path calls get_user_profile, which shows the
 * GitHub profile fetched with the GitHub token the server keeps.
 */

const NAME = 'uuid';

describe('Gemini CLI core (library) through "Sign in with GitHub"', () => {
  let github: FakeGitHub;
  const bed = geminiTestbed(async () => {
    const setup = await withFakeGitHub([{ login: 'mona', id: 424242, name: 'Mona Lisa Octocat', publicRepos: 3, followers: 1, following: 2 }]);
    github = setup.upstream;
    return setup.options;
  });
  after(() => github?.close());
  const serverConfig = (): MCPServerConfig => ({ httpUrl: bed.server.mcpUrl, oauth: { enabled: true } });

  it('/mcp auth: Gemini\'s flow with the sign-in at GitHub and our consent; Gemini stores our tokens, not GitHub\'s', { timeout: 60_000 }, async () => {
    github.signInAs('mona');
    bed.step();
    const provider = new bed.gemini.MCPOAuthProvider(new bed.gemini.MCPOAuthTokenStorage());
    const signIn = await signInThroughGemini(bed.gemini, bed.server.url, { upstream: 'github', at: github.baseUrl }, () => provider.authenticate(NAME, { enabled: true }, bed.server.mcpUrl)).catch(bed.explain);
    // Our pages on the way: the login page's GitHub button, then our consent page for the GitHub user.
    assert.deepEqual(signIn.pages.map((page) => page.status), [200, 200]);
    assert.ok(parseForms(signIn.pages[0]!.html).some((form) => /\/upstream\/github$/.test(form.action)), 'the login page with the GitHub button');
    assert.ok(isConsentPage(signIn.pages[1]!), `our consent page after GitHub: ${visibleText(signIn.pages[1]!.html).slice(0, 300)}`);
    assert.match(visibleText(signIn.pages[1]!.html), /Mona Lisa Octocat \(github:mona\)/);
    const credentials = storedCredentials(bed.tokenFile);
    await assertGeminiAuthorized({ gemini: bed.gemini, requests: bed.since(), serverUrl: bed.server.url, resource: bed.server.mcpUrl, signIn, browserLaunches: bed.sandbox.browserLaunches(), tokenFile: bed.tokenFile, credentials });

    const atGitHub = github.requests.filter((request) => request.url.pathname === '/login/oauth/authorize');
    assert.equal(atGitHub.length, 1, 'the browser went through GitHub once');
    assert.equal(atGitHub[0]!.url.searchParams.get('redirect_uri'), `${bed.server.url}/github/callback`);
    const [githubToken] = github.tokensOf('mona');
    assert.ok(githubToken, 'GitHub issued a token to the server');
    assert.notEqual(credentials.token.accessToken, githubToken);
    assert.ok(!JSON.stringify(credentials).includes(githubToken), 'Gemini\'s token file holds nothing of GitHub\'s');
  });

  it('Gemini\'s startup path with the stored token: get_user_profile shows the GitHub profile; generate_uuid works', { timeout: 60_000 }, async () => {
    const stored = storedCredentials(bed.tokenFile);
    bed.step();
    const mark = github.requests.length;
    const { tools, profile, uuid } = await withGeminiTools(bed.gemini, NAME, serverConfig(), geminiMcpContext(), async ({ tools, run }) => ({
      tools,
      profile: await run('get_user_profile'),
      uuid: (await run('generate_uuid')).trim(),
    })).catch(bed.explain);
    assert.deepEqual(tools.map((tool) => tool.serverToolName).sort(), ['generate_uuid', 'get_user_profile']);
    assertMcpPostsCarried(bed.since(), stored.token.accessToken, 4);
    assert.match(profile, /mona/, `the profile Gemini hands its model names the GitHub login: ${profile}`);
    assert.match(profile, /Mona Lisa Octocat/);
    assert.match(profile, /github/i);
    assert.ok(isUuidV4(uuid), uuid);

    const userCalls = github.requests.slice(mark).filter((request) => request.url.pathname === '/api/v3/user');
    assert.equal(userCalls.length, 1, 'the server asked GitHub\'s API for the profile');
    assert.equal(userCalls[0]!.token, github.tokensOf('mona')[0], 'with the GitHub token it stored');
    assert.ok(github.requests.every((request) => request.token !== stored.token.accessToken && !request.body.includes(stored.token.accessToken)), 'Gemini\'s token (ours) never reached GitHub');
  });
});
