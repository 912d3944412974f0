import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../support/free-port.js';
import { RawOAuthClient, registerRaw } from '../support/raw-oauth.js';
import { recordSignIn, type RecordedSignIn } from '../support/recorded-sign-in.js';
import { ADMIN, startServerProcess, type ServerProcess } from '../support/server-process.js';

/** One Set-Cookie header, read: its name and value, and its attributes by lower-case name. */
interface SetCookie {
  header: string;
  name: string;
  value: string;
  attributes: Map<string, string>;
}

function parseSetCookie(header: string): SetCookie {
  const [pair, ...rest] = header.split(';');
  const eq = pair!.indexOf('=');
  const attributes = new Map<string, string>();
  for (const part of rest) {
    const [key, ...value] = part.trim().split('=');
    attributes.set(key!.toLowerCase(), value.join('='));
  }
  return { header, name: pair!.slice(0, eq).trim(), value: pair!.slice(eq + 1).trim(), attributes };
}

/** Every Set-Cookie header the browser received on the way. */
const cookiesOf = (signIn: RecordedSignIn) => signIn.steps.flatMap((step) => step.headers.getSetCookie().map(parseSetCookie));

const isDeletion = (cookie: SetCookie) => cookie.value === '' || /1970/.test(cookie.attributes.get('expires') ?? '');

/** Each cookie set with a value comes with its HMAC (`name.sig`, keygrip) in the same flow, with the same attributes. */
function assertSigned(cookies: SetCookie[]): void {
  const set = cookies.filter((cookie) => !isDeletion(cookie));
  for (const cookie of set.filter((candidate) => !candidate.name.endsWith('.sig'))) {
    const path = cookie.attributes.get('path');
    const signature = set.find((candidate) => candidate.name === `${cookie.name}.sig` && candidate.attributes.get('path') === path);
    assert.ok(signature, `${cookie.name} (Path=${path}) is signed: a ${cookie.name}.sig cookie with the same path is set with it`);
  }
}

describe('cookies of the sign-in and consent (C6)', () => {
  describe('a public https URL behind the TLS proxy', () => {
    let server: ServerProcess;
    let publicUrl: string;
    let listenerUrl: string;
    before(async () => {
      const port = await freePort();
      publicUrl = `https://localhost:${port}`;
      listenerUrl = `http://localhost:${port}`;
      server = await startServerProcess({ port, env: { PUBLIC_URL: publicUrl } });
    });
    after(async () => {
      await server?.stop();
    });

    it('[C6] every cookie is Secure, HttpOnly, SameSite=Lax and signed; the session cookie is __Host- (Path=/, no Domain), the path-bound interaction cookies __Secure-, each bound to its interaction\'s path', async () => {
      const listener = { url: listenerUrl, mcpUrl: `${publicUrl}/mcp` };
      const redirectUris = [`http://127.0.0.1:${await freePort()}/cb`];
      const registered = await registerRaw(listener, { redirect_uris: redirectUris, token_endpoint_auth_method: 'none' }, { 'x-forwarded-proto': 'https' });
      assert.equal(registered.status, 201, registered.text);
      const client = new RawOAuthClient(listener, String(registered.json!.client_id), redirectUris, registered.json!);
      const authRequest = client.authorizationRequest({ resource: `${publicUrl}/mcp` });
      const start = new URL(authRequest.url.href.replace(listenerUrl, publicUrl));
      const signIn = await recordSignIn(publicUrl, start, ADMIN, listenerUrl);
      const { interactions, callback } = signIn;
      const cookies = cookiesOf(signIn);
      assert.equal(`${callback.origin}${callback.pathname}`, client.redirectUri, 'the flow completed');
      assert.ok(callback.searchParams.get('code'), 'with a code');
      assert.equal(interactions.length, 2, `sign-in, then consent: ${interactions.join(', ')}`);

      const names = new Set(cookies.map((cookie) => cookie.name));
      for (const expected of ['__Host-session', '__Secure-interaction', '__Secure-interaction_resume']) {
        assert.ok(names.has(expected), `${expected} was set: ${[...names].join(', ')}`);
      }
      for (const cookie of cookies) {
        assert.match(cookie.name, /^__(Host|Secure)-/, `${cookie.header}: a prefixed name`);
        assert.ok(cookie.attributes.has('secure'), `${cookie.header}: Secure`);
        assert.ok(cookie.attributes.has('httponly'), `${cookie.header}: HttpOnly`);
        assert.equal(cookie.attributes.get('samesite')?.toLowerCase(), 'lax', `${cookie.header}: SameSite=Lax`);
        assert.ok(!cookie.attributes.has('domain'), `${cookie.header}: no Domain (host-only)`);
        if (cookie.name.startsWith('__Host-')) assert.equal(cookie.attributes.get('path'), '/', `${cookie.header}: __Host- needs Path=/`);
        if (cookie.name.startsWith('__Secure-interaction') && !isDeletion(cookie)) {
          // An interaction cookie works only for its own interaction's pages (and its resume URL): a
          // second authorization in the same browser has its own, and neither can stand in for the other.
          const path = cookie.attributes.get('path') ?? '';
          assert.match(path, cookie.name.replace(/\.sig$/, '') === '__Secure-interaction' ? /^\/interaction\/[\w-]+$/ : /^\/auth\/[\w-]+$/, `${cookie.header}: bound to one interaction`);
          const uid = path.split('/').pop()!;
          assert.ok(interactions.includes(`/interaction/${uid}`), `${cookie.header}: the path names an interaction of this flow`);
        }
      }
      assertSigned(cookies);
    });
  });

  describe('a loopback http URL (the default)', () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServerProcess();
    });
    after(async () => {
      await server?.stop();
    });

    it('[C6] on http loopback every cookie is HttpOnly, SameSite=Lax and signed, without Secure or a __Host-/__Secure- prefix (browsers refuse both over plain http)', async () => {
      const client = await RawOAuthClient.registerLoopback(server);
      const signIn = await recordSignIn(server.url, client.authorizationRequest().url, ADMIN);
      const { callback } = signIn;
      const cookies = cookiesOf(signIn);
      assert.ok(callback.searchParams.get('code'), 'the flow completed with a code');
      const names = new Set(cookies.map((cookie) => cookie.name));
      for (const expected of ['_session', '_interaction', '_interaction_resume']) assert.ok(names.has(expected), `${expected} was set: ${[...names].join(', ')}`);
      for (const cookie of cookies) {
        assert.doesNotMatch(cookie.name, /^__(Host|Secure)-/, cookie.header);
        assert.ok(!cookie.attributes.has('secure'), `${cookie.header}: no Secure over http`);
        assert.ok(cookie.attributes.has('httponly'), `${cookie.header}: HttpOnly`);
        assert.equal(cookie.attributes.get('samesite')?.toLowerCase(), 'lax', `${cookie.header}: SameSite=Lax`);
      }
      assertSigned(cookies);
    });
  });
});
