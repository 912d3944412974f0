import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './temp-dir.js';

/** A throwaway CA and a server certificate it signed, as files and as PEM text. */
export interface TestCertificates {
  /** The temporary directory holding them all (remove it when done). */
  dir: string;
  /** The CA certificate file: what NODE_EXTRA_CA_CERTS points the server at. */
  caFile: string;
  ca: string;
  key: string;
  cert: string;
}

/** The names the server certificate is valid for: this machine, and a name only tests resolve. */
const CERTIFICATE_NAMES = { dns: ['localhost', 'cimd.test', 'aaaa-dropped.test'], ip: ['127.0.0.1', '::1'] };

function openssl(cwd: string, args: string[]): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 20_000 });
  if (result.error) throw new Error(`openssl could not be run (${result.error.message}): the metadata-document tests need the openssl CLI on PATH (.ci/run installs it)`);
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
}

/**
 * Generates a CA and an https server certificate for CERTIFICATE_NAMES with the openssl CLI, in a
 * fresh temporary directory: a metadata document served from this machine over real TLS, which a
 * server started with NODE_EXTRA_CA_CERTS=caFile trusts and no other process does.
 */
export function makeTestCertificates(): TestCertificates {
  const dir = tempDir('tls');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=uuid-mcp-server test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(dir, ['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  const altNames = [...CERTIFICATE_NAMES.dns.map((name) => `DNS:${name}`), ...CERTIFICATE_NAMES.ip.map((ip) => `IP:${ip}`)].join(',');
  fs.writeFileSync(path.join(dir, 'server.ext'), `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext']);
  const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');
  return { dir, caFile: path.join(dir, 'ca.pem'), ca: read('ca.pem'), key: read('server.key'), cert: read('server.pem') };
}
