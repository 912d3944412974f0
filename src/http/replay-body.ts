import { IncomingMessage } from 'node:http';

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
  copy.push(body);
  copy.push(null);
  return copy;
}
