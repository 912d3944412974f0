import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { DocumentFetches } from '../../src/authorization/document-fetches.js';
import { FetchRefused, safeFetch } from '../../src/http/safe-fetch.js';
import { silentLogger } from '../../src/log.js';
import { MetadataDocumentServer } from '../support/metadata-document-server.js';
import { makeTestCertificates, type TestCertificates } from '../support/test-certificates.js';

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
      limits: { concurrent: 8, perAddressPerMinute: 30, failureMemory: { ms: 30_000, entries: 10 } },
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
});
