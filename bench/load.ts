import autocannon from 'autocannon';
import { cpuMicros } from './processes.js';

/**
 * One measured round of `tools/call generate_uuid` against one target, with autocannon as a
 * library: every request has its own JSON-RPC id (concurrent requests share one session, and
 * repeated ids would make responses cross), and every response is checked: status 200, the same
 * id back, one UUID in the result. The target's CPU time is read before and after.
 */
export interface LoadTarget {
  name: string;
  /** The process that serves it (for its CPU time). */
  pid: number;
  url: string;
  headers: Record<string, string>;
}

export interface LoadRound {
  target: string;
  requestsPerSecond: number;
  /** Responses checked and correct. */
  ok: number;
  /** Responses with another status, another id or no UUID, plus connection errors and timeouts. */
  bad: number;
  firstBad: string | undefined;
  serverCpuMicrosPerRequest: number;
  p50Ms: number;
  p99Ms: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The JSON-RPC message of a body: JSON, or the `data:` line of a one-event SSE stream. */
function messageOf(body: string): { id?: unknown; result?: { structuredContent?: { uuids?: unknown[] } } } | undefined {
  const text = body.startsWith('{') ? body : body.split('\n').find((line) => line.startsWith('data:'))?.slice(5);
  if (!text) return undefined;
  try {
    return JSON.parse(text) as ReturnType<typeof messageOf>;
  } catch {
    return undefined;
  }
}

/** Why `body` is not the answer to request `id`, or undefined when it is. */
export function wrongAnswer(status: number, body: string, id: number): string | undefined {
  if (status !== 200) return `HTTP ${status}: ${body.slice(0, 200)}`;
  const message = messageOf(body);
  if (message?.id !== id) return `answer to id ${String(message?.id)} received for id ${id}: ${body.slice(0, 200)}`;
  const uuids = message.result?.structuredContent?.uuids;
  if (uuids?.length !== 1 || typeof uuids[0] !== 'string' || !UUID.test(uuids[0])) return `no UUID in the result: ${body.slice(0, 200)}`;
  return undefined;
}

export async function loadRound(target: LoadTarget, seconds: number, connections: number): Promise<LoadRound> {
  let nextId = 1;
  let ok = 0;
  let bad = 0;
  let firstBad: string | undefined;
  const cpuBefore = cpuMicros(target.pid);
  const result = await autocannon({
    url: target.url,
    method: 'POST',
    connections,
    pipelining: 1,
    duration: seconds,
    headers: target.headers,
    requests: [{
      setupRequest(request, context) {
        const id = nextId++;
        (context as { id: number }).id = id;
        return { ...request, body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'generate_uuid', arguments: {} } }) };
      },
      onResponse(status, body, context) {
        const problem = wrongAnswer(status, body, (context as { id: number }).id);
        if (problem === undefined) ok += 1;
        else {
          bad += 1;
          firstBad ??= problem;
        }
      },
    }],
  });
  const cpuUsed = cpuMicros(target.pid) - cpuBefore;
  bad += result.errors;
  if (result.errors > 0) firstBad ??= `${result.errors} connection errors (${result.timeouts} timeouts)`;
  return {
    target: target.name,
    requestsPerSecond: ok / result.duration,
    ok,
    bad,
    firstBad,
    serverCpuMicrosPerRequest: ok > 0 ? cpuUsed / ok : Number.NaN,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
  };
}
