import type { RequestHandler } from 'express';
import { JsonRpcCode, JsonRpcHttpError } from '../errors.js';

/** The last handler on an MCP path: any other method gets 405 with `Allow`, as a JSON-RPC error. */
export function methodNotAllowed(allow: string, message = 'Method not allowed'): RequestHandler {
  return (_req, res) => {
    res.set('Allow', allow);
    throw new JsonRpcHttpError(405, JsonRpcCode.ServerError, message);
  };
}
