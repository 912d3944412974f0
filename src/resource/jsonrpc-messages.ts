import { isInitializeRequest, JSONRPCMessageSchema, RELATED_TASK_META_KEY, type InitializeRequest, type JSONRPCMessage, type JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';

/**
 * Incoming JSON-RPC messages, validated once. The SDK's schema (zod, a union of four strict objects)
 * is most of what reading a message costs, and its transport then asks it again for each message
 * (is it a request? an initialize?). The messages every client sends are plain: checked here by
 * their structure, against exactly what the schema accepts. Anything less plain (an error
 * response, task metadata, a key the schema would rename or drop) goes to the schema itself, so
 * what it accepts, refuses and returns stays the SDK's.
 */

const isId = (value: unknown): boolean => typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value));

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Every key in `allowed`: the schemas are strict. */
function onlyKeys(value: object, allowed: ReadonlySet<string>): boolean {
  for (const key of Object.keys(value)) if (!allowed.has(key)) return false;
  return true;
}

/**
 * A `params` or `result` object (loose, passed through as it is) whose `_meta` the schema would
 * pass through unchanged too: absent, or an object with at most a valid progress token. Related-task
 * metadata is stripped to its known keys by the schema, and an own `__proto__` key (JSON.parse makes
 * one) is dropped by its copy: both left to it.
 */
function plainContainer(value: unknown): boolean {
  if (!isPlainObject(value) || Object.hasOwn(value, '__proto__')) return false;
  const meta = value._meta;
  if (meta === undefined) return true;
  if (!isPlainObject(meta) || Object.hasOwn(meta, '__proto__') || meta[RELATED_TASK_META_KEY] !== undefined) return false;
  return meta.progressToken === undefined || isId(meta.progressToken);
}

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const NOTIFICATION_KEYS = new Set(['jsonrpc', 'method', 'params']);
const RESULT_KEYS = new Set(['jsonrpc', 'id', 'result']);

/** A request, notification or result response the schema would accept and return unchanged. */
function isPlainMessage(value: unknown): value is JSONRPCMessage {
  if (!isPlainObject(value) || value.jsonrpc !== '2.0') return false;
  if (typeof value.method === 'string') {
    if (value.params !== undefined && !plainContainer(value.params)) return false;
    if ('id' in value) return isId(value.id) && onlyKeys(value, REQUEST_KEYS);
    return onlyKeys(value, NOTIFICATION_KEYS);
  }
  if ('result' in value) return isId(value.id) && plainContainer(value.result) && onlyKeys(value, RESULT_KEYS);
  return false;
}

/** One message as the SDK's JSONRPCMessageSchema.parse returns it; throws as it does. */
export function parseMessage(value: unknown): JSONRPCMessage {
  return isPlainMessage(value) ? value : JSONRPCMessageSchema.parse(value);
}

/*
 * What a message is, for one that went through parseMessage: the four kinds are told apart by
 * their keys (each schema is strict), so no schema is asked again.
 */
export const isRequest = (message: JSONRPCMessage): message is JSONRPCRequest => 'method' in message && 'id' in message;
export const isResponse = (message: JSONRPCMessage): boolean => 'result' in message || 'error' in message;
/** The schema decides: `initialize` with params it accepts. */
export const isInitialize = (message: JSONRPCMessage): message is JSONRPCMessage & InitializeRequest => 'method' in message && message.method === 'initialize' && isInitializeRequest(message);
