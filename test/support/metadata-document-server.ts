import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestCertificates } from './test-certificates.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * An https server on this machine that plays the web sites publishing client ID metadata
 * documents: each path answers as its test says (a document, a redirect, HTML, a stall), and it
 * records every connection and request, so a test can also show that nothing reached it.
 */
export class MetadataDocumentServer {
  /** TCP connections accepted, counted before TLS: a refused fetch must not even connect. */
  connections = 0;
  readonly requests: { path: string; host: string | undefined; servername: string | undefined }[] = [];
  readonly #routes = new Map<string, Handler>();

  private constructor(private readonly server: https.Server, readonly origin: string) {}

  static async start(certificates: TestCertificates, host = '127.0.0.1'): Promise<MetadataDocumentServer> {
    const server = https.createServer({ key: certificates.key, cert: certificates.cert });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const documents = new MetadataDocumentServer(server, `https://${host.includes(':') ? `[${host}]` : host}:${port}`);
    server.on('connection', () => (documents.connections += 1));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => documents.#answer(req, res));
    return documents;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The URL of `path` on this server (also the client_id of a document served there). */
  url(path: string): string {
    return `${this.origin}${path}`;
  }

  /** Serves `path` with `handler`; returns its URL. */
  route(path: string, handler: Handler): string {
    this.#routes.set(path, handler);
    return this.url(path);
  }

  /** Serves a JSON document at `path`; returns its URL. */
  json(path: string, document: unknown, headers: Record<string, string> = {}): string {
    return this.route(path, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(document));
    });
  }

  /** How many requests reached `path`. */
  hits(path: string): number {
    return this.requests.filter((request) => request.path === path).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    this.requests.push({ path, host: req.headers.host, servername: (req.socket as { servername?: string }).servername });
    const handler = this.#routes.get(path);
    if (handler) {
      handler(req, res);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  }
}
