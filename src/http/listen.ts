import http from 'node:http';
import type { RequestListener } from 'node:http';
import { StartupError } from '../errors.js';
import { answerClientError, answerConnect, requireHostHeader } from './parser-refusals.js';

export interface Listening {
  /** The port actually bound (useful when 0 was asked for). */
  port: number;
  /**
   * Stops accepting connections, lets requests under way finish for up to `graceMs`, then cuts what
   * is left. Resolves when every connection is gone.
   */
  close(graceMs: number): Promise<void>;
}

function listenOne(handler: RequestListener, port: number, host: string): Promise<http.Server> {
  // Node's own Host check answers a bare 400 with no body; requireHostHeader() says why in JSON.
  const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 20_000, maxHeaderSize: 16 * 1024, requireHostHeader: false }, requireHostHeader(handler));
  // MCP SSE streams stay open for long; only the request phase is bounded (requestTimeout above).
  server.keepAliveTimeout = 65_000;
  server.on('clientError', answerClientError);
  server.on('connect', answerConnect);
  // An Expect other than 100-continue would get Node's empty 417; ignoring it is allowed (RFC 9110
  // §10.1.1) and lets the endpoint answer in its own protocol.
  server.on('checkExpectation', requireHostHeader(handler));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * Listens on every host in `hosts` (e.g. 127.0.0.1 and ::1 for "localhost"). The first must work;
 * later ones are skipped if the machine lacks that address family.
 */
export async function listen(handler: RequestListener, hosts: string[], port: number): Promise<Listening> {
  const servers: http.Server[] = [];
  let bound = port;
  for (const [index, host] of hosts.entries()) {
    try {
      const server = await listenOne(handler, bound, host);
      const address = server.address();
      if (address && typeof address === 'object') bound = address.port;
      servers.push(server);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (index > 0 && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')) continue;
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      if (code === 'EADDRINUSE') throw new StartupError(`PORT ${bound} is already in use on ${host}; stop the other process or set PORT`, { cause: error });
      if (code === 'EACCES') throw new StartupError(`PORT ${bound} on ${host} needs privileges this user lacks; set PORT above 1023`, { cause: error });
      throw new StartupError(`cannot listen on ${host}:${bound} (${code ?? String(error)}); check HOST and PORT`, { cause: error });
    }
  }
  return {
    port: bound,
    close: (graceMs) => closeAll(servers, graceMs),
  };
}

async function closeAll(servers: http.Server[], graceMs: number): Promise<void> {
  const closed = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  // Idle keep-alive connections would hold close() open; requests under way are left to finish.
  const idle = setInterval(() => servers.forEach((server) => server.closeIdleConnections()), 100);
  servers.forEach((server) => server.closeIdleConnections());
  const deadline = setTimeout(() => servers.forEach((server) => server.closeAllConnections()), graceMs);
  try {
    await closed;
  } finally {
    clearInterval(idle);
    clearTimeout(deadline);
  }
}
