import type { RequestHandler } from 'express';
import { JsonRpcCode } from '../errors.js';
import { sendError } from './error-response.js';

export interface ShutdownGate {
  middleware: RequestHandler;
  /** From now on every request is refused (the server is stopping). */
  shut(): void;
}

/**
 * While the server stops (SIGTERM), the listening socket is closed, so new connections are refused
 * by the operating system; but a client may still send a request on a kept-alive connection it
 * already had. That request gets a clean refusal instead of starting work the shutdown would cut:
 * 503 `temporarily_unavailable` with Retry-After in its protocol's format, and `Connection: close`,
 * so the client reconnects (and reaches the restarted server, or is refused).
 */
export function shutdownGate(): ShutdownGate {
  let shut = false;
  return {
    middleware: (req, res, next) => {
      if (!shut) {
        next();
        return;
      }
      res.set({ Connection: 'close', 'Retry-After': '1' });
      sendError(req, res, { status: 503, oauth: 'temporarily_unavailable', jsonRpc: JsonRpcCode.ServerError, message: 'The server is shutting down; try again shortly' });
    },
    shut: () => {
      shut = true;
    },
  };
}
