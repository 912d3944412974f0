import fs from 'node:fs';
import { MetadataDocumentServer } from './metadata-document-server.js';
import { makeTestCertificates, type TestCertificates } from './test-certificates.js';

/**
 * Client metadata as a native app publishes it (Claude Code's shape): loopback redirect URIs
 * without a port, which match the app's callback on any port (RFC 8252 §7.3), a public client,
 * no application_type. `clientId` is the document's own URL.
 */
export function nativeClientMetadata(clientId: string, clientName: string, redirectUris = ['http://localhost/callback', 'http://127.0.0.1/callback']): Record<string, unknown> {
  return {
    client_id: clientId,
    client_name: clientName,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
}

/**
 * Client ID metadata documents published on this machine over real TLS (a throwaway CA), and what
 * the server needs to fetch them, which no production server is given: TEST_ONLY_CIMD_ALLOW_LOOPBACK
 * (documents on loopback addresses, refused otherwise) and NODE_EXTRA_CA_CERTS (that CA).
 */
export interface LocalMetadataDocuments {
  certificates: TestCertificates;
  documents: MetadataDocumentServer;
  /** The server's environment for fetching them. */
  serverEnv: Record<string, string>;
  /** Serves a native app's document (nativeClientMetadata) at `path`; returns its URL, the app's client_id. */
  publishNative(path: string, clientName: string, redirectUris?: string[]): string;
  /** Stops the document server and removes the certificates. */
  close(): Promise<void>;
}

/** `host`: what the document URLs name (and the server listens on): an address, or `localhost` as a client's own URL would. */
export async function startLocalMetadataDocuments(host = '127.0.0.1'): Promise<LocalMetadataDocuments> {
  const certificates = makeTestCertificates();
  const documents = await MetadataDocumentServer.start(certificates, host).catch((error: unknown) => {
    fs.rmSync(certificates.dir, { recursive: true, force: true });
    throw error;
  });
  return {
    certificates,
    documents,
    serverEnv: { TEST_ONLY_CIMD_ALLOW_LOOPBACK: 'true', NODE_EXTRA_CA_CERTS: certificates.caFile },
    publishNative(path, clientName, redirectUris) {
      return documents.json(path, nativeClientMetadata(documents.url(path), clientName, redirectUris));
    },
    async close() {
      await documents.close();
      fs.rmSync(certificates.dir, { recursive: true, force: true });
    },
  };
}
