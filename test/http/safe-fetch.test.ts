import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { dnsResolver, FetchRefused, safeFetch, type FetchPolicy, type RefusalKind } from '../../src/http/safe-fetch.js';
import { DnsServer } from '../support/dns-server.js';
import { within } from '../support/time-limit.js';
import { MetadataDocumentServer } from '../support/metadata-document-server.js';
import { makeTestCertificates, type TestCertificates } from '../support/test-certificates.js';

const DOCUMENT = { client_id: 'x', client_name: 'A document' };

/** The fetch must fail with a FetchRefused of that kind, whose message matches `reason`. */
async function assertRefused(attempt: Promise<Response>, kind: RefusalKind, reason: RegExp): Promise<FetchRefused> {
  const error = await attempt.then(
    (response) => assert.fail(`expected a refusal, got HTTP ${response.status}`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof FetchRefused, `a FetchRefused, got ${String(error)}`);
  assert.match(error.message, reason);
  assert.equal(error.kind, kind, error.message);
  return error;
}

/** A resolver that answers from a table and counts its queries, as a test's stand-in for DNS. */
function tableResolver(table: Record<string, string[]>) {
  const queries: string[] = [];
  const resolve = async (hostname: string): Promise<LookupAddress[]> => {
    queries.push(hostname);
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { resolve, queries };
}

describe('the fetch policy for URLs chosen by others (safe-fetch.ts)', () => {
  let certificates: TestCertificates;
  let documents: MetadataDocumentServer;
  let documentsV6: MetadataDocumentServer;
  let plain: http.Server;
  let plainConnections = 0;
  /** A policy that trusts the test CA and may reach loopback, as the TEST_ONLY setting allows. */
  let testPolicy: FetchPolicy;

  before(async () => {
    certificates = makeTestCertificates();
    documents = await MetadataDocumentServer.start(certificates, '127.0.0.1');
    documentsV6 = await MetadataDocumentServer.start(certificates, '::1');
    plain = http.createServer((_req, res) => res.end('{}'));
    plain.on('connection', () => (plainConnections += 1));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    testPolicy = { maxBytes: 1024, timeoutMs: 1000, allowLoopback: true, ca: certificates.ca };
  });
  after(async () => {
    await documents?.close();
    await documentsV6?.close();
    plain?.closeAllConnections();
    await new Promise<void>((resolve) => (plain ? plain.close(() => resolve()) : resolve()));
    if (certificates) fs.rmSync(certificates.dir, { recursive: true, force: true });
  });

  describe('F1: https only', () => {
    it('refuses http:, and other schemes, without connecting', async () => {
      const port = (plain.address() as AddressInfo).port;
      const fetch = safeFetch(testPolicy);
      const error = await assertRefused(fetch(`http://127.0.0.1:${port}/doc`), 'address not allowed', /only https URLs are fetched, not http:/);
      assert.equal(error.host, `127.0.0.1:${port}`);
      await assertRefused(fetch('ftp://127.0.0.1/doc'), 'address not allowed', /only https/);
      assert.equal(plainConnections, 0, 'nothing connected to the http server');
    });

    it('refuses URLs with credentials and any method but GET', async () => {
      const fetch = safeFetch(testPolicy);
      await assertRefused(fetch(`https://user:secret@127.0.0.1:${documents.port}/doc`), 'address not allowed', /credentials/);
      await assertRefused(fetch(documents.url('/doc'), { method: 'POST' }), 'address not allowed', /only GET/);
      assert.equal(documents.hits('/doc'), 0);
    });
  });

  describe('F2: public addresses only, after resolving, and the connection pinned to them', () => {
    it('refuses literal loopback, private, link-local and metadata-service addresses before connecting', async () => {
      const fetch = safeFetch({ maxBytes: 1024, timeoutMs: 1000 });
      const before = { v4: documents.connections, v6: documentsV6.connections };
      await assertRefused(fetch(documents.url('/doc')), 'address not allowed', /^127\.0\.0\.1 is not a public address \(loopback\)$/);
      await assertRefused(fetch(documentsV6.url('/doc')), 'address not allowed', /^::1 is not a public address \(loopback\)$/);
      await assertRefused(fetch('https://10.0.0.1/doc'), 'address not allowed', /\(private\)/);
      await assertRefused(fetch('https://169.254.169.254/latest/meta-data/'), 'address not allowed', /\(link-local\)/);
      await assertRefused(fetch('https://[::ffff:169.254.169.254]/'), 'address not allowed', /\(link-local\)/);
      await assertRefused(fetch('https://[64:ff9b::a9fe:a9fe]/'), 'address not allowed', /\(link-local\)/);
      await assertRefused(fetch('https://[fd00::1]/'), 'address not allowed', /\(unique-local\)/);
      await assertRefused(fetch('https://0.0.0.0/'), 'address not allowed', /\(unspecified\)/);
      await assertRefused(fetch('https://0x7f.1/'), 'address not allowed', /^127\.0\.0\.1 is not/); // the URL parser reads it as 127.0.0.1
      assert.deepEqual({ v4: documents.connections, v6: documentsV6.connections }, before, 'no connection was made');
    });

    it('refuses a name if any address it resolves to is not public, and names that do not resolve', async () => {
      const dns = tableResolver({ 'mixed.example': ['93.184.215.14', '10.1.2.3'], 'internal.example': ['fd00::5'], 'mapped.example': ['::ffff:127.0.0.1'] });
      const fetch = safeFetch({ maxBytes: 1024, timeoutMs: 1000, resolve: dns.resolve });
      await assertRefused(fetch('https://mixed.example/doc'), 'address not allowed', /^mixed\.example resolves to 10\.1\.2\.3, which is not a public address \(private\)$/);
      await assertRefused(fetch('https://internal.example/doc'), 'address not allowed', /fd00::5, which is not a public address \(unique-local\)/);
      await assertRefused(fetch('https://mapped.example/doc'), 'address not allowed', /\(loopback\)/);
      await assertRefused(fetch('https://nowhere.example/doc'), 'unreachable', /cannot resolve nowhere\.example \(ENOTFOUND\)/);
    });

    it('localhost and names under .localhost are this machine by definition (RFC 6761), never asked of DNS, and refused', async () => {
      const dns = tableResolver({ localhost: ['93.184.215.14'], 'app.localhost': ['93.184.215.14'] });
      const fetch = safeFetch({ maxBytes: 1024, timeoutMs: 1000, ca: certificates.ca, resolve: dns.resolve });
      const before = documents.connections;
      await assertRefused(fetch(`https://localhost:${documents.port}/doc`), 'address not allowed', /^localhost resolves to 127\.0\.0\.1, which is not a public address \(loopback\)$/);
      await assertRefused(fetch(`https://app.localhost:${documents.port}/doc`), 'address not allowed', /^app\.localhost resolves to 127\.0\.0\.1, which is not a public address \(loopback\)$/);
      await assertRefused(fetch(`https://LocalHost.:${documents.port}/doc`), 'address not allowed', /^localhost\. resolves to 127\.0\.0\.1/);
      assert.deepEqual(dns.queries, [], 'no DNS query');
      assert.equal(documents.connections, before);
      // With the test-only allowance, a document on https://localhost:<port> is fetched (tests serve them so).
      documents.json('/on-localhost', DOCUMENT);
      const response = await safeFetch({ ...testPolicy, resolve: dns.resolve })(`https://localhost:${documents.port}/on-localhost`);
      assert.deepEqual(await response.json(), DOCUMENT);
      assert.equal(documents.requests.at(-1)!.host, `localhost:${documents.port}`);
    });

    it('the test-only loopback allowance admits loopback and nothing else', async () => {
      const fetch = safeFetch(testPolicy);
      documents.json('/allowed', DOCUMENT);
      const response = await fetch(documents.url('/allowed'));
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), DOCUMENT);
      await assertRefused(fetch('https://10.0.0.1/doc'), 'address not allowed', /\(private\)/);
      await assertRefused(fetch('https://169.254.169.254/doc'), 'address not allowed', /\(link-local\)/);
    });

    it('connects to the vetted address only (one DNS query, so a rebinding answer cannot switch it), with SNI and Host for the name', async () => {
      const dns = tableResolver({ 'cimd.test': ['127.0.0.1'] });
      const fetch = safeFetch({ ...testPolicy, resolve: dns.resolve });
      documents.json('/pinned', DOCUMENT);
      const response = await fetch(`https://cimd.test:${documents.port}/pinned`);
      assert.equal(response.status, 200);
      assert.deepEqual(dns.queries, ['cimd.test'], 'resolved exactly once');
      const seen = documents.requests.at(-1)!;
      assert.equal(seen.path, '/pinned');
      assert.equal(seen.host, `cimd.test:${documents.port}`, 'Host is the name');
      assert.equal(seen.servername, 'cimd.test', 'SNI is the name');
    });

    it('verifies the certificate for the host name, against the trusted roots', async () => {
      const dns = tableResolver({ 'other.test': ['127.0.0.1'], 'cimd.test': ['127.0.0.1'] });
      documents.json('/cert', DOCUMENT);
      await assertRefused(safeFetch({ ...testPolicy, resolve: dns.resolve })(`https://other.test:${documents.port}/cert`), 'unreachable', /ERR_TLS_CERT_ALTNAME_INVALID/);
      // Without the test CA the certificate chains to nothing this process trusts.
      await assertRefused(safeFetch({ maxBytes: 1024, timeoutMs: 1000, allowLoopback: true, resolve: dns.resolve })(`https://cimd.test:${documents.port}/cert`), 'unreachable', /request failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
      assert.equal(documents.hits('/cert'), 0, 'no request was sent over an unverified connection');
    });
  });

  describe('F3: no redirects', () => {
    for (const status of [301, 302, 303, 307, 308]) {
      it(`an HTTP ${status} is a refusal, and its target is never requested`, async () => {
        documents.json(`/target-${status}`, DOCUMENT);
        documents.route(`/moved-${status}`, (_req, res) => {
          res.writeHead(status, { location: documents.url(`/target-${status}`) });
          res.end();
        });
        await assertRefused(safeFetch(testPolicy)(documents.url(`/moved-${status}`)), 'redirect', new RegExp(`redirect \\(HTTP ${status}\\); redirects are not followed`));
        assert.equal(documents.hits(`/target-${status}`), 0);
      });
    }
  });

  describe('F4: a size cap and a timeout on the whole exchange', () => {
    it('refuses a body over the cap, announced or not, and accepts one exactly at it', async () => {
      const body = (size: number) => JSON.stringify({ pad: 'x'.repeat(size - 10) });
      assert.equal(body(1024).length, 1024);
      documents.route('/announced', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2048' });
        res.end(body(2048));
      });
      documents.route('/chunked', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(body(1025).slice(0, 600));
        res.end(body(1025).slice(600));
      });
      documents.route('/exact', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body(1024));
      });
      const fetch = safeFetch(testPolicy);
      await assertRefused(fetch(documents.url('/announced')), 'too large', /answer of 2048 bytes is over the 1024-byte limit/);
      await assertRefused(fetch(documents.url('/chunked')), 'too large', /answer is over the 1024-byte limit/);
      assert.equal((await (await fetch(documents.url('/exact'))).text()).length, 1024);
    });

    it('gives up on a server that never answers, or answers too slowly, after timeoutMs', async () => {
      const stalled: http.ServerResponse[] = [];
      documents.route('/silent', (_req, res) => stalled.push(res));
      documents.route('/trickle', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"client_id":');
        stalled.push(res);
      });
      const fetch = safeFetch({ ...testPolicy, timeoutMs: 400 });
      for (const path of ['/silent', '/trickle']) {
        const started = Date.now();
        await assertRefused(fetch(documents.url(path)), 'timeout', /no complete answer within 400 ms/);
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 350 && elapsed < 2000, `${path}: gave up after ${elapsed} ms`);
      }
      stalled.forEach((res) => res.destroy());
    });

    it('stops when the caller\'s own signal aborts', async () => {
      const stalled: http.ServerResponse[] = [];
      documents.route('/caller-abort', (_req, res) => stalled.push(res));
      const started = Date.now();
      await assertRefused(safeFetch(testPolicy)(documents.url('/caller-abort'), { signal: AbortSignal.timeout(150) }), 'timeout', /in the time the caller allowed/);
      assert.ok(Date.now() - started < 900);
      stalled.forEach((res) => res.destroy());
    });
  });

  describe('F5: JSON only', () => {
    it('refuses a 2xx that is not JSON, and accepts JSON with parameters or a +json type', async () => {
      const serveAs = (path: string, type: string | undefined) => documents.route(path, (_req, res) => {
        res.writeHead(200, type ? { 'content-type': type } : {});
        res.end(JSON.stringify(DOCUMENT));
      });
      const fetch = safeFetch(testPolicy);
      await assertRefused(fetch(serveAs('/html', 'text/html')), 'not JSON', /content type "text\/html", not JSON/);
      await assertRefused(fetch(serveAs('/text', 'text/plain; charset=utf-8')), 'not JSON', /not JSON/);
      await assertRefused(fetch(serveAs('/none', undefined)), 'not JSON', /content type "", not JSON/);
      await assertRefused(fetch(serveAs('/jsonp', 'application/javascript')), 'not JSON', /not JSON/);
      await assertRefused(fetch(serveAs('/jsonish', 'application/jsonx')), 'not JSON', /not JSON/);
      for (const [path, type] of [['/charset', 'application/json; charset=utf-8'], ['/plus', 'application/vnd.example+json'], ['/upper', 'Application/JSON']] as const) {
        const response = await fetch(serveAs(path, type));
        assert.deepEqual(await response.json(), DOCUMENT, type);
      }
    });

    it('hands other statuses back unread, for the caller to judge', async () => {
      const response = await safeFetch(testPolicy)(documents.url('/no-such-document'));
      assert.equal(response.status, 404);
      assert.equal(await response.text(), '');
    });
  });

  describe('F6: an answer that is not valid HTTP is a refusal, never an exception in an event listener', () => {
    /**
     * Fetches from a path whose answer is `raw`, written to the socket byte for byte (a status over
     * 599, control characters in the reason phrase: what no HTTP library writes but a hostile site
     * can). An uncaught exception fails the test instead of passing by unnoticed.
     */
    async function fetchRaw(raw: string): Promise<Response> {
      const path = `/raw-${documents.requests.length}`;
      documents.route(path, (req) => req.socket.end(Buffer.from(raw, 'latin1')));
      const uncaught: unknown[] = [];
      const record = (error: unknown) => uncaught.push(error);
      process.on('uncaughtException', record);
      try {
        return await safeFetch(testPolicy)(documents.url(path));
      } finally {
        await new Promise((resolve) => setTimeout(resolve, 50));
        process.off('uncaughtException', record);
        assert.deepEqual(uncaught, [], 'no uncaught exception');
      }
    }

    for (const status of [600, 999]) {
      it(`HTTP ${status} (outside 200–599)`, async () => {
        await assertRefused(fetchRaw(`HTTP/1.1 ${status} X\r\nContent-Length: 0\r\n\r\n`), 'invalid answer', new RegExp(`^answered with HTTP status ${status}, which is not a valid status$`));
      });
    }

    it('a reason phrase with control characters: the status counts, the phrase is dropped', async () => {
      const missing = await fetchRaw('HTTP/1.1 404 A\x01B\r\nContent-Length: 0\r\n\r\n');
      assert.equal(missing.status, 404);
      assert.equal(missing.statusText, '');
      const found = await fetchRaw('HTTP/1.1 200 \x7fOK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
      assert.equal(found.status, 200);
      assert.equal(found.statusText, '');
      assert.deepEqual(await found.json(), {});
    });
  });

  describe('F7: DNS through c-ares (dnsResolver), A and AAAA both asked, within the deadline', () => {
    let dnsServer: DnsServer;
    const PUBLIC_V4 = '93.184.215.14';
    const PUBLIC_V6 = '2606:4700::1111';
    before(async () => {
      dnsServer = await DnsServer.start({
        'both.test': { A: [PUBLIC_V4], AAAA: [PUBLIC_V6] },
        'v4only.test': { A: [PUBLIC_V4] },
        'v6only.test': { AAAA: [PUBLIC_V6] },
        'blackhole.test': { A: 'silent', AAAA: 'silent' },
        'cimd.test': { A: ['127.0.0.1'] },
        'sneaky.test': { A: [PUBLIC_V4], AAAA: ['fd00::5'] },
        // A middlebox that answers one type of query and drops the other.
        'aaaa-dropped.test': { A: ['127.0.0.1'], AAAA: 'silent' },
        'a-dropped.test': { A: 'silent', AAAA: [PUBLIC_V6] },
      });
    });
    after(async () => {
      await dnsServer?.close();
    });
    const resolverFor = (timeoutMs: number) => dnsResolver({ timeoutMs, servers: [dnsServer.address] });

    it('asks for A and AAAA records: a name with both gets both, a name with only one kind is fine', async () => {
      const resolve = resolverFor(2000);
      const signal = AbortSignal.timeout(5000);
      assert.deepEqual(await resolve('both.test', signal), [{ address: PUBLIC_V4, family: 4 }, { address: PUBLIC_V6, family: 6 }]);
      assert.deepEqual(await resolve('v4only.test', signal), [{ address: PUBLIC_V4, family: 4 }]);
      assert.deepEqual(await resolve('v6only.test', signal), [{ address: PUBLIC_V6, family: 6 }]);
      assert.deepEqual(dnsServer.queries.filter((query) => query.name === 'both.test').map((query) => query.type).sort(), [1, 28], 'one A and one AAAA query');
    });

    it('a fetch goes to the address it answered, and is refused when any answer (here the AAAA) is not public', async () => {
      documents.json('/through-dns', DOCUMENT);
      const response = await safeFetch({ ...testPolicy, resolve: resolverFor(1000) })(`https://cimd.test:${documents.port}/through-dns`);
      assert.deepEqual(await response.json(), DOCUMENT);
      await assertRefused(safeFetch({ maxBytes: 1024, timeoutMs: 1000, resolve: resolverFor(1000) })('https://sneaky.test/doc'), 'address not allowed', /^sneaky\.test resolves to fd00::5, which is not a public address \(unique-local\)$/);
    });

    it('a server that answers one family and drops the other: 250 ms after the addresses came, the other query is cancelled and the fetch goes on with them', async () => {
      const resolve = resolverFor(10_000);
      for (const [name, expected] of [['aaaa-dropped.test', { address: '127.0.0.1', family: 4 }], ['a-dropped.test', { address: PUBLIC_V6, family: 6 }]] as const) {
        const started = Date.now();
        assert.deepEqual(await within(resolve(name, AbortSignal.timeout(15_000)), 5000, `resolving ${name}`), [expected]);
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 200 && elapsed < 2000, `${name}: answered after ${elapsed} ms, not the resolver's 10 s`);
        assert.deepEqual(dnsServer.queries.filter((query) => query.name === name).map((query) => query.type).sort(), [1, 28], `${name}: both types were asked`);
      }
      documents.json('/aaaa-dropped', DOCUMENT);
      const response = await safeFetch({ ...testPolicy, resolve: resolverFor(1000) })(`https://aaaa-dropped.test:${documents.port}/aaaa-dropped`);
      assert.deepEqual(await response.json(), DOCUMENT, 'within the fetch\'s 1 s deadline');
    });

    it('fails closed: a name that does not exist, or that no server answers for within the deadline, is refused', async () => {
      await assertRefused(safeFetch({ maxBytes: 1024, timeoutMs: 1000, resolve: resolverFor(1000) })('https://nowhere.test/doc'), 'unreachable', /^cannot resolve nowhere\.test \(A: ENOTFOUND, AAAA: ENOTFOUND\)$/);
      // The resolver alone would wait 10 s; the fetch's deadline cancels it.
      const started = Date.now();
      await assertRefused(safeFetch({ maxBytes: 1024, timeoutMs: 400, resolve: resolverFor(10_000) })('https://blackhole.test/doc'), 'timeout', /^no complete answer within 400 ms$/);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 350 && elapsed < 2000, `gave up after ${elapsed} ms`);
      // On its own timeout, the resolver reports it.
      await assert.rejects(resolverFor(300)('blackhole.test', AbortSignal.timeout(5000)), (error: Error & { code?: string }) => error.code === 'A: ETIMEOUT, AAAA: ETIMEOUT');
    });
  });
});
