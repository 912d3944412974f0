import express, { type RequestHandler } from 'express';

/** A bad body, shaped as body-parser's errors are (`status`, `type`), so the error handler answers both alike. */
function bodyError(status: number, type: string, message: string): Error {
  return Object.assign(status === 400 && type === 'entity.parse.failed' ? new SyntaxError(message) : new Error(message), { status, type, expose: true });
}

/** JSON's whitespace, which is all body-parser lets precede the `{` or `[` a strict JSON body starts with. */
const isJsonWhitespace = (code: number) => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;

/**
 * body-parser's strict JSON parse of a UTF-8 body: an empty body is `{}`, a body that is not an
 * object or an array (after whitespace, and a byte-order mark, which its decoder drops) is refused
 * before parsing, and a syntax error is `entity.parse.failed`.
 */
function parseStrictJson(bytes: Buffer): unknown {
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) return {};
  let first = 0;
  while (first < text.length && isJsonWhitespace(text.charCodeAt(first))) first++;
  if (text[first] !== '{' && text[first] !== '[') throw bodyError(400, 'entity.parse.failed', 'Unexpected token in JSON: a body must be an object or an array');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw bodyError(400, 'entity.parse.failed', error instanceof Error ? error.message : 'Invalid JSON');
  }
}

/**
 * `express.json({ limit, type: () => true, inflate: false })` with a shorter path for the request
 * every MCP client sends: a Content-Length within the limit, no Content-Encoding, no charset
 * parameter (so UTF-8). That one is read here without raw-body's and iconv's machinery; anything
 * else (chunked, compressed, a charset to check or decode, a declared length over the limit) goes
 * to express.json, so every refusal (400, 413, 415) is still body-parser's own.
 */
export function jsonBody(maxBytes: number): RequestHandler {
  const general = express.json({ limit: maxBytes, type: () => true, inflate: false });
  return (req, res, next) => {
    const headers = req.headers;
    const declared = headers['content-length'];
    const contentType = headers['content-type'];
    const plain =
      declared !== undefined &&
      headers['transfer-encoding'] === undefined &&
      headers['content-encoding'] === undefined &&
      (contentType === undefined || !contentType.includes(';')) &&
      /^\d{1,9}$/.test(declared) &&
      Number(declared) <= maxBytes &&
      !req.readableEnded &&
      !('body' in req && req.body !== undefined);
    if (!plain) {
      general(req, res, next);
      return;
    }
    const length = Number(declared);
    const body = Buffer.allocUnsafe(length);
    let received = 0;
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      req.off('data', onData).off('end', onEnd).off('aborted', onAborted).off('error', onError);
      next(error);
    };
    const onData = (chunk: Buffer) => {
      // Node's parser stops at Content-Length; this is a guard, not a path.
      if (received + chunk.length > length) {
        settle(bodyError(400, 'request.size.invalid', 'request size did not match content length'));
        return;
      }
      chunk.copy(body, received);
      received += chunk.length;
    };
    const onEnd = () => {
      if (received !== length) {
        settle(bodyError(400, 'request.size.invalid', 'request size did not match content length'));
        return;
      }
      try {
        req.body = parseStrictJson(body);
      } catch (error) {
        settle(error as Error);
        return;
      }
      settle();
    };
    const onAborted = () => settle(bodyError(400, 'request.aborted', 'request aborted'));
    const onError = (error: Error) => settle(Object.assign(error, { status: 400, type: 'request.aborted' }));
    req.on('data', onData).on('end', onEnd).on('aborted', onAborted).on('error', onError);
  };
}
