/**
 * The ceiling: a raw `node:http` JSON-RPC echo, no framework, no auth. It parses the request and
 * answers with a result of the same shape and size as `generate_uuid`'s, so the load generator
 * checks it the same way. Started by bench/processes.ts with an IPC channel; says {type:'ready', port}.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let id: unknown = null;
    try {
      id = (JSON.parse(Buffer.concat(chunks).toString()) as { id?: unknown }).id ?? null;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const uuids = [randomUUID()];
    const body = JSON.stringify({
      result: { content: [{ type: 'text', text: JSON.stringify({ version: 'v4', uuids }) }], structuredContent: { version: 'v4', uuids } },
      jsonrpc: '2.0',
      id,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('disconnect', () => process.exit(0));
process.on('message', (message: { type?: string }) => {
  if (message.type === 'stop') process.exit(0);
});
