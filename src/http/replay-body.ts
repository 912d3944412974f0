import express, { type Request, type RequestHandler } from 'express';
import { IncomingMessage, type ServerResponse } from 'node:http';

/** oidc-provider's request handler (its Koa callback). */
export type ProviderCallback = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * A copy of `req` whose body stream yields `body`. oidc-provider reads request bodies itself; when we
 * must look at (and fix) a body first, handing it a fresh stream keeps its own parsing and limits in
 * charge instead of its "already parsed body" fallback.
 */
export function withBody(req: IncomingMessage, body: Buffer, contentType?: string): IncomingMessage {
  const copy = new IncomingMessage(req.socket);
  copy.method = req.method;
  copy.url = req.url;
  copy.httpVersion = req.httpVersion;
  copy.httpVersionMajor = req.httpVersionMajor;
  copy.httpVersionMinor = req.httpVersionMinor;
  const headers = { ...req.headers, 'content-length': String(body.length) };
  if (contentType) headers['content-type'] = contentType;
  delete headers['transfer-encoding'];
  copy.headers = headers;
  // "complete" as if the HTTP parser had read it all; otherwise destroying the copy after it is read
  // would count as an aborted request and destroy the shared socket.
  copy.complete = true;
  // The client's address as Express worked it out through TRUST_PROXY (a getter on Express's own
  // requests): oidc-provider takes its ctx.ip from it (provider.ts), and per-address limits and logs
  // need the client, not the last X-Forwarded-For entry whoever wrote it.
  const ip = (req as IncomingMessage & { ip?: unknown }).ip;
  if (typeof ip === 'string') Object.defineProperty(copy, 'ip', { value: ip });
  copy.push(body);
  copy.push(null);
  return copy;
}

/**
 * Reads the body (at most `maxBytes`, never inflated), lets `rewrite` change it (or throw a
 * protocol error), and hands oidc-provider a request carrying the result.
 */
export function rewriteBodyFor(
  provider: ProviderCallback,
  options: { maxBytes: number; rewrite: (raw: Buffer, req: Request) => { body: Buffer; contentType?: string } },
): RequestHandler[] {
  return [
    express.raw({ type: () => true, limit: options.maxBytes, inflate: false }),
    (req, res) => {
      const { body, contentType } = options.rewrite(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), req);
      provider(withBody(req, body, contentType), res);
    },
  ];
}
