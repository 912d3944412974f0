import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { DocumentFetches, type DocumentFetchLimits } from '../../src/authorization/document-fetches.js';
import { FetchRefused, safeFetch } from '../../src/http/safe-fetch.js';
import { silentLogger } from '../../src/log.js';
import { MetadataDocumentServer } from '../support/metadata-document-server.js';
import { makeTestCertificates, type TestCertificates } from '../support/test-certificates.js';
import { sleep } from '../support/time-limit.js';

/**
 * What allowFetch reads of oidc-provider's context for one request: the client's address (as
 * Express makes it out, provider.ts), and where a Retry-After header goes.
 */
function requestFrom(ip: string): KoaContextWithOIDC & { headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  return { ip, headers, set: (name: string, value: string) => (headers[name] = value) } as unknown as KoaContextWithOIDC & { headers: Record<string, string> };
}

/** An oidc-provider error with this HTTP status (429, 503). */
const refusedWith = (status: number) => (error: unknown) => (error as { status?: number }).status === status;

/** The refusal of a fetch that allowFetch did not admit. */
const notAdmitted = (error: unknown) => error instanceof FetchRefused && error.message === 'this server fetches nothing but client metadata documents it admitted';

describe('the fetch oidc-provider is given serves metadata documents only (document-fetches.ts)', () => {
  let certificates: TestCertificates;
  let documents: MetadataDocumentServer;
  let fetches: DocumentFetches;

  before(async () => {
    certificates = makeTestCertificates();
    documents = await MetadataDocumentServer.start(certificates);
    fetches = new DocumentFetches({
      publicUrl: 'http://localhost:1',
      allowLoopback: true,
      limits: { concurrent: 8, perAddressPerMinute: 30, memory: { ms: 30_000, entries: 10 } },
      fetch: safeFetch({ maxBytes: 1024, timeoutMs: 1000, allowLoopback: true, ca: certificates.ca }),
      log: silentLogger,
    });
  });
  after(async () => {
    await documents?.close();
    if (certificates) fs.rmSync(certificates.dir, { recursive: true, force: true });
  });

  it('a URL allowFetch did not admit (a jwks_uri, say) is refused without connecting', async () => {
    const url = documents.json('/keys.json', { keys: [] });
    const before = documents.connections;
    await assert.rejects(fetches.fetch(url), notAdmitted);
    assert.equal(documents.connections, before);
  });

  it('an admitted document is fetched once, in the same turn; an admission not used by the next turn lapses', async () => {
    const url = documents.json('/admitted.json', { client_id: 'x' });
    assert.equal(await fetches.allowFetch(undefined, url), true);
    assert.equal((await fetches.fetch(url)).status, 200);
    await assert.rejects(fetches.fetch(url), notAdmitted, 'one admission, one fetch');
    assert.equal(await fetches.allowFetch(undefined, url), true);
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(fetches.fetch(url), notAdmitted);
    assert.equal(documents.hits('/admitted.json'), 1);
  });

  it('what a fetch came to, a document included (oidc-provider caches only those it can use), answers its URL from memory until memory.ms is over: no place taken, nothing counted', async () => {
    const remembering = new DocumentFetches({
      publicUrl: 'http://localhost:1',
      allowLoopback: true,
      limits: { concurrent: 1, perAddressPerMinute: 1, memory: { ms: 300, entries: 10 } },
      fetch: safeFetch({ maxBytes: 1024, timeoutMs: 1000, allowLoopback: true, ca: certificates.ca }),
      log: silentLogger,
    });
    const document = { client_id: 'not the URL it is served at' };
    const url = documents.json('/remembered.json', document, { 'cache-control': 'max-age=600' });
    assert.equal(await remembering.allowFetch(requestFrom('198.51.100.9'), url), true);
    assert.deepEqual(await (await remembering.fetch(url)).json(), document);
    for (let again = 0; again < 3; again++) {
      assert.equal(await remembering.allowFetch(requestFrom('198.51.100.9'), url), true, 'admitted though the address has used its one fetch');
      const replayed = await remembering.fetch(url);
      assert.equal(replayed.status, 200);
      assert.equal(replayed.headers.get('cache-control'), 'max-age=600');
      assert.deepEqual(await replayed.json(), document);
    }
    assert.equal(documents.hits('/remembered.json'), 1);
    await sleep(350);
    assert.equal(await remembering.allowFetch(undefined, url), true);
    assert.equal((await remembering.fetch(url)).status, 200);
    assert.equal(documents.hits('/remembered.json'), 2, 'fetched again once the memory lapsed');
  });
});

describe('fetches per client address (document-fetches.ts, allowFetch)', () => {
  const LIMITS: DocumentFetchLimits = { concurrent: 1_000_000, perAddressPerMinute: 30, memory: { ms: 30_000, entries: 10 } };
  const fetchesWith = (limits: Partial<DocumentFetchLimits> = {}) => new DocumentFetches({
    publicUrl: 'http://localhost:1',
    allowLoopback: false,
    limits: { ...LIMITS, ...limits },
    fetch: async () => assert.fail('nothing is fetched here'),
    log: silentLogger,
  });
  let next = 0;
  /** A document URL not asked for before, so each admission is a fetch of its own. */
  const newDocument = () => `https://documents.example/${next++}.json`;

  it('an IPv6 host rotating its addresses within its /64 has one budget (addresses grouped by /56, as the other limiters do): past it, 429 with Retry-After', async () => {
    const fetches = fetchesWith();
    const admitted: string[] = [];
    let limited: { ip: string; headers: Record<string, string> } | undefined;
    for (let host = 1; host <= 200 && !limited; host++) {
      const request = requestFrom(`2001:db8:5:7::${host.toString(16)}`);
      try {
        await fetches.allowFetch(request, newDocument());
        admitted.push(request.ip);
      } catch (error) {
        assert.ok(refusedWith(429)(error), String(error));
        limited = request;
      }
    }
    assert.equal(admitted.length, LIMITS.perAddressPerMinute, 'the budget of one address, for the whole /64');
    assert.ok(limited, 'the next address in the same /64 was refused');
    const wait = Number(limited.headers['Retry-After']);
    assert.ok(wait >= 1 && wait <= 60, `Retry-After: ${wait}`);
    assert.equal(await fetches.allowFetch(requestFrom('2001:db8:5:100::1'), newDocument()), true, 'another /56 has its own budget');
  });

  it('only admitted fetches count: requests refused for the concurrency cap (503), looking the client up twice as oidc-provider does, are not counted', async () => {
    let release: (response: Response) => void = () => undefined;
    const fetches = new DocumentFetches({
      publicUrl: 'http://localhost:1',
      allowLoopback: false,
      limits: { ...LIMITS, concurrent: 1, perAddressPerMinute: 1 },
      fetch: () => new Promise<Response>((resolve) => (release = resolve)),
      log: silentLogger,
    });
    const stalled = newDocument();
    assert.equal(await fetches.allowFetch(requestFrom('198.51.100.1'), stalled), true);
    const inProgress = fetches.fetch(stalled);
    const busy = requestFrom('198.51.100.2');
    for (let lookup = 0; lookup < 2; lookup++) await assert.rejects(fetches.allowFetch(busy, newDocument()), refusedWith(503));
    release(new Response(null, { status: 404 }));
    await inProgress;
    assert.equal(await fetches.allowFetch(requestFrom('198.51.100.2'), newDocument()), true, 'the refused requests used none of the budget');
    await new Promise((resolve) => setImmediate(resolve)); // that admission, unused, frees its place
    await assert.rejects(fetches.allowFetch(requestFrom('198.51.100.2'), newDocument()), refusedWith(429), 'the admitted fetch did');
  });

  it('one request counts once, however many times it looks the client up', async () => {
    const fetches = fetchesWith({ perAddressPerMinute: 2 });
    const request = requestFrom('198.51.100.3');
    const document = newDocument();
    assert.equal(await fetches.allowFetch(request, document), true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await fetches.allowFetch(request, document), true, 'looked up again (oidc-provider\'s error handler does)');
    assert.equal(await fetches.allowFetch(requestFrom('198.51.100.3'), newDocument()), true, 'the second request from the address');
    await assert.rejects(fetches.allowFetch(requestFrom('198.51.100.3'), newDocument()), refusedWith(429), 'the third');
  });
});
