import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort } from './free-port.js';

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

export interface StaticSite {
  port: number;
  /** Every path the browser asked for, in order. */
  requested: string[];
  close(): Promise<void>;
}

/**
 * Serves the files of `dir` on 127.0.0.1 (any Host name that resolves there), as a web app's own
 * server would: a file when one matches the path, otherwise index.html, since a single-page app
 * routes paths such as /callback in its script.
 */
export async function serveStaticSite(dir: string): Promise<StaticSite> {
  const port = await freePort();
  const requested: string[] = [];
  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://site');
    requested.push(pathname);
    const file = path.join(dir, pathname);
    const chosen = file.startsWith(`${dir}${path.sep}`) && fs.existsSync(file) && fs.statSync(file).isFile() ? file : path.join(dir, 'index.html');
    res.writeHead(200, { 'content-type': TYPES[path.extname(chosen)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(fs.readFileSync(chosen));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port,
    requested,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
