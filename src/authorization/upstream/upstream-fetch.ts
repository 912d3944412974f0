import { UpstreamError } from '../../errors.js';

/** Long enough for a slow identity provider, short enough that the person at the browser is told. */
export const UPSTREAM_TIMEOUT_MS = 10_000;
/** A profile, a token response or a discovery document is a few KiB; anything far larger is not one. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * A request to an upstream's own endpoint (configured by the operator, so not the SSRF-guarded
 * fetch used for clients' documents): bounded in time and size, no redirects followed, and every
 * failure an UpstreamError naming the provider and what went wrong, never the token.
 */
export async function upstreamJson(provider: string, url: string, init: RequestInit): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) });
  } catch (error) {
    const timedOut = (error as { name?: string }).name === 'TimeoutError';
    throw new UpstreamError(provider, timedOut ? `${hostOf(url)} did not answer within ${UPSTREAM_TIMEOUT_MS / 1000} s` : `${hostOf(url)} could not be reached`, { cause: error });
  }
  const text = await boundedText(provider, url, response);
  try {
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  } catch {
    throw new UpstreamError(provider, `${hostOf(url)} answered HTTP ${response.status} with something that is not JSON`);
  }
}

/** The body as text, read only up to MAX_BODY_BYTES: an endless or huge answer is cut off there, not held in memory. */
async function boundedText(provider: string, url: string, response: Response): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let received = 0;
  const reader = response.body.getReader();
  try {
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      received += read.value.byteLength;
      if (received > MAX_BODY_BYTES) {
        void reader.cancel().catch(() => undefined);
        throw new UpstreamError(provider, `${hostOf(url)} sent an answer too large to be one`);
      }
      chunks.push(read.value);
    }
  } catch (error) {
    if (error instanceof UpstreamError) throw error;
    throw new UpstreamError(provider, `${hostOf(url)} broke off its answer`, { cause: error });
  }
  return Buffer.concat(chunks).toString('utf8');
}

function hostOf(url: string): string {
  return URL.parse(url)?.host ?? 'the provider';
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
