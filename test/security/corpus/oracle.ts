import type { RawHttpAnswer } from '../../support/raw-http.js';
import type { Area, Case } from './case.js';

/**
 * What every answer must be: never 5xx, and every error in the protocol of the endpoint asked.
 * Returns what is wrong with `answer`, or undefined when it is right.
 */

/**
 * OAuth `error` values registered at IANA (RFC 6749 §4.1.2.1/§5.2, RFC 6750 §3.1, RFC 7009,
 * RFC 7591 §3.2.2, RFC 8628, RFC 8707, RFC 9396, RFC 9449, OpenID Connect Core §3.1.2.6, CIBA).
 */
export const REGISTERED_OAUTH_ERRORS = new Set([
  'invalid_request', 'unauthorized_client', 'access_denied', 'unsupported_response_type', 'invalid_scope', 'server_error', 'temporarily_unavailable',
  'invalid_client', 'invalid_grant', 'unsupported_grant_type', 'invalid_token', 'insufficient_scope', 'unsupported_token_type',
  'invalid_redirect_uri', 'invalid_client_metadata', 'invalid_software_statement', 'unapproved_software_statement',
  'authorization_pending', 'slow_down', 'expired_token', 'invalid_target', 'invalid_authorization_details', 'invalid_dpop_proof', 'use_dpop_nonce',
  'interaction_required', 'login_required', 'account_selection_required', 'consent_required', 'invalid_request_uri', 'invalid_request_object',
  'request_not_supported', 'request_uri_not_supported', 'registration_not_supported', 'invalid_binding_message', 'expired_login_hint_token',
  'unknown_user_id', 'transaction_failed', 'missing_user_code', 'invalid_user_code',
]);

/** RFC 6750 §3.1: what a protected resource's Bearer challenge may say. */
const BEARER_ERRORS = new Set(['invalid_request', 'invalid_token', 'insufficient_scope']);

function parseJson(body: Buffer): { value?: unknown; problem?: string } {
  try {
    return { value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) };
  } catch (error) {
    return { problem: `not UTF-8 JSON (${(error as Error).message}): ${JSON.stringify(body.subarray(0, 200).toString('latin1'))}` };
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function contentType(answer: RawHttpAnswer): string {
  return (answer.headers['content-type'] ?? '').toLowerCase();
}

/** `{error, error_description?}` with a registered error code, as application/json. */
export function oauthErrorProblem(answer: RawHttpAnswer, allowed: Set<string> = REGISTERED_OAUTH_ERRORS): string | undefined {
  if (!contentType(answer).startsWith('application/json')) return `OAuth error not application/json: "${contentType(answer)}"`;
  const { value, problem } = parseJson(answer.body);
  if (problem) return problem;
  if (!isObject(value)) return `OAuth error body is not an object: ${JSON.stringify(value)}`;
  if (typeof value.error !== 'string' || !allowed.has(value.error)) return `OAuth error code not registered: ${JSON.stringify(value.error)}`;
  if (value.error_description !== undefined && typeof value.error_description !== 'string') return `error_description not a string: ${JSON.stringify(value.error_description)}`;
  return undefined;
}

function jsonRpcMessageProblem(message: unknown, mustBeError: boolean): string | undefined {
  if (!isObject(message)) return `JSON-RPC message is not an object: ${JSON.stringify(message)}`;
  if (message.jsonrpc !== '2.0') return `jsonrpc is ${JSON.stringify(message.jsonrpc)}, not "2.0"`;
  // Requests and notifications the server sends on a stream (it may, between responses).
  if (typeof message.method === 'string') return mustBeError ? 'a request where an error was due' : undefined;
  const id = message.id;
  if (!(id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)))) return `response id is ${JSON.stringify(id)}`;
  const hasResult = 'result' in message;
  const hasError = 'error' in message;
  if (hasResult === hasError) return `a response needs exactly one of result and error: ${JSON.stringify(message).slice(0, 300)}`;
  if (mustBeError && !hasError) return 'a result where an error was due';
  if (hasError) {
    const error = message.error;
    if (!isObject(error) || !Number.isInteger(error.code) || typeof error.message !== 'string') return `malformed JSON-RPC error object: ${JSON.stringify(error)}`;
  }
  return undefined;
}

/** The JSON-RPC messages of a JSON body or an event stream's data lines. */
function jsonRpcMessages(answer: RawHttpAnswer): { messages?: unknown[]; problem?: string } {
  if (contentType(answer).startsWith('text/event-stream')) {
    const messages: unknown[] = [];
    for (const event of answer.body.toString('utf8').split(/\r?\n\r?\n/)) {
      const data = event.split(/\r?\n/).filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart());
      if (data.length === 0 || data.join('') === '') continue;
      const { value, problem } = parseJson(Buffer.from(data.join('\n')));
      if (problem) return { problem: `event stream data: ${problem}` };
      messages.push(...(Array.isArray(value) ? value : [value]));
    }
    return { messages };
  }
  if (!contentType(answer).startsWith('application/json')) return { problem: `not application/json: "${contentType(answer)}"` };
  const { value, problem } = parseJson(answer.body);
  if (problem) return { problem };
  return { messages: Array.isArray(value) ? value : [value] };
}

function mcpProblem(answer: RawHttpAnswer, isError: boolean, method: string): string | undefined {
  // The bearer guard answers in RFC 6750's terms: a challenge and an OAuth error body (a 401 always).
  if (answer.status === 401 && !/^Bearer\b/.test(answer.headers['www-authenticate'] ?? '')) return '401 without a Bearer challenge';
  if ((answer.status === 401 || answer.status === 403) && /^Bearer\b/.test(answer.headers['www-authenticate'] ?? '')) return oauthErrorProblem(answer, BEARER_ERRORS);
  if (!isError) {
    // 202 Accepted carries no message (the legacy transport's says "Accepted"); a GET stream is read no further than its head.
    if (answer.status === 202 || answer.body.length === 0) return undefined;
    if (method === 'GET' && contentType(answer).startsWith('text/event-stream')) return undefined;
  }
  const { messages, problem } = jsonRpcMessages(answer);
  if (problem) return problem;
  if (isError && messages!.length !== 1) return `an HTTP error with ${messages!.length} JSON-RPC messages`;
  for (const message of messages!) {
    const wrong = jsonRpcMessageProblem(message, isError);
    if (wrong) return wrong;
  }
  return undefined;
}

function pageProblem(answer: RawHttpAnswer): string | undefined {
  if (!contentType(answer).startsWith('text/html')) return `page error not text/html: "${contentType(answer)}" ${answer.body.subarray(0, 200).toString('utf8')}`;
  if (!/^\s*<!doctype html>/i.test(answer.body.toString('utf8'))) return `page error is not an HTML document: ${answer.body.subarray(0, 200).toString('utf8')}`;
  return undefined;
}

/** Node's parser refused the request and src/http/listen.ts answered for it. */
function isParserAnswer(answer: RawHttpAnswer): boolean {
  return (answer.status === 400 || answer.status === 431 || answer.status === 408) && answer.headers.connection === 'close' && oauthErrorProblem(answer) === undefined;
}

/** What is wrong with the answer to `testCase`, or undefined. */
export function judge(testCase: Case, answer: RawHttpAnswer): string | undefined {
  if (answer.status >= 500) return `${answer.status}: ${answer.body.subarray(0, 300).toString('utf8')}`;
  if (answer.status < 200) return `interim or unknown status ${answer.status}`;
  if (testCase.parserMayRefuse && isParserAnswer(answer)) return undefined;
  const isError = answer.status >= 400;
  const noBody = testCase.request.method === 'HEAD' || answer.status === 204 || answer.status === 304;
  if (noBody) return undefined;
  const area: Area = testCase.area;
  if (area === 'mcp') return mcpProblem(answer, isError, testCase.request.method);
  if (!isError) return undefined;
  switch (area) {
    case 'oauth':
      return oauthErrorProblem(answer);
    case 'page':
      return pageProblem(answer);
    case 'page-or-oauth': {
      const problems = [pageProblem(answer), oauthErrorProblem(answer)];
      return problems.every(Boolean) ? `neither a page nor OAuth JSON: ${problems.join('; ')}` : undefined;
    }
    case 'any': {
      const problems = [oauthErrorProblem(answer), mcpProblem(answer, true, testCase.request.method), pageProblem(answer)];
      return problems.every(Boolean) ? `in no protocol's format: ${problems.join('; ')}` : undefined;
    }
  }
}
