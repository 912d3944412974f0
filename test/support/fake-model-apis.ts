import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Stand-ins for the model behind a coding agent (Anthropic's Messages API for Claude Code, the
 * Gemini API for Gemini CLI), on 127.0.0.1. They replace only the model's decision: when the agent
 * offers our MCP tool, "the model" asks for it; when the agent sends back the tool's result,
 * "the model" answers with that result. Everything between — the agent's MCP client, its tokens,
 * its tools/call over Streamable HTTP — is the agent's own code talking to the real server.
 */
export interface FakeModelApi {
  /** The base URL to give the agent (ANTHROPIC_BASE_URL, GOOGLE_GEMINI_BASE_URL). */
  url: string;
  /** Per model request: its path and the tool names the agent offered. */
  requests: Array<{ path: string; tools: string[] }>;
  /** The text of every tool result the agent sent back, in order. */
  toolResults: string[];
  close(): Promise<void>;
}

type Handler = (path: string, body: Record<string, unknown>, api: FakeModelApi, res: http.ServerResponse) => void;

async function startFake(handle: Handler): Promise<FakeModelApi> {
  const api: FakeModelApi = { url: '', requests: [], toolResults: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
      } catch {
        // not JSON: answered as an empty request
      }
      handle(req.url ?? '/', body, api, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return api;
}

function json(res: http.ServerResponse, value: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((part: { text?: string }) => part.text ?? '').join('');
  return JSON.stringify(content);
}

// ---- Anthropic Messages API (what Claude Code calls), streaming and not ----

interface AnthropicBlock { type: string; text?: string; id?: string; name?: string; input?: unknown; content?: unknown }

function anthropicMessage(res: http.ServerResponse, stream: boolean, content: AnthropicBlock[], stopReason: string): void {
  const message = {
    id: `msg_fake_${Date.now()}`,
    type: 'message',
    role: 'assistant',
    model: 'fake-model',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
  if (!stream) return json(res, { ...message, content, stop_reason: stopReason });
  const events: Array<[string, Record<string, unknown>]> = [['message_start', { message: { ...message, content: [], stop_reason: null } }]];
  content.forEach((block, index) => {
    if (block.type === 'text') {
      events.push(['content_block_start', { index, content_block: { type: 'text', text: '' } }]);
      events.push(['content_block_delta', { index, delta: { type: 'text_delta', text: block.text } }]);
    } else {
      events.push(['content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } }]);
      events.push(['content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } }]);
    }
    events.push(['content_block_stop', { index }]);
  });
  events.push(['message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 5 } }]);
  events.push(['message_stop', {}]);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [type, data] of events) res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  res.end();
}

/** Answers Claude Code: calls `toolName` (e.g. `mcp__uuid__generate_uuid`) when offered, then replies "RESULT: <tool result>". */
export function startFakeAnthropicApi(toolName: string): Promise<FakeModelApi> {
  return startFake((path, body, api, res) => {
    if (path.includes('/count_tokens')) return json(res, { input_tokens: 10 });
    if (!path.startsWith('/v1/messages')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end('{"type":"error","error":{"type":"not_found_error","message":"not part of the fake"}}');
    }
    const tools = ((body.tools ?? []) as Array<{ name: string }>).map((tool) => tool.name);
    api.requests.push({ path, tools });
    const messages = (body.messages ?? []) as Array<{ content: unknown }>;
    const last = messages.at(-1)?.content;
    const result = Array.isArray(last) ? (last as AnthropicBlock[]).find((block) => block.type === 'tool_result') : undefined;
    const stream = body.stream === true;
    if (result) {
      const text = textOf(result.content);
      api.toolResults.push(text);
      return anthropicMessage(res, stream, [{ type: 'text', text: `RESULT: ${text}` }], 'end_turn');
    }
    if (tools.includes(toolName)) return anthropicMessage(res, stream, [{ type: 'tool_use', id: `toolu_fake_${api.requests.length}`, name: toolName, input: {} }], 'tool_use');
    return anthropicMessage(res, stream, [{ type: 'text', text: `NO TOOL: ${toolName} was not offered` }], 'end_turn');
  });
}

// ---- Gemini API (what Gemini CLI calls): generateContent, streamGenerateContent, countTokens ----

/**
 * Answers Gemini CLI: calls `toolName` (e.g. `mcp_uuid_generate_uuid`) when offered, then replies
 * "RESULT: <tool result>". Gemini also asks small JSON questions (which model to route to): those
 * get a JSON answer choosing the default.
 */
export function startFakeGeminiApi(toolName: string): Promise<FakeModelApi> {
  return startFake((path, body, api, res) => {
    if (path.includes(':countTokens')) return json(res, { totalTokens: 10 });
    const declarations = ((body.tools ?? []) as Array<{ functionDeclarations?: Array<{ name: string }> }>)
      .flatMap((tool) => tool.functionDeclarations ?? [])
      .map((declaration) => declaration.name);
    api.requests.push({ path, tools: declarations });
    const contents = (body.contents ?? []) as Array<{ parts?: Array<{ functionResponse?: { response?: unknown } }> }>;
    const response = contents.at(-1)?.parts?.find((part) => part.functionResponse)?.functionResponse;
    const config = (body.generationConfig ?? {}) as Record<string, unknown>;
    let parts: unknown[];
    if (response) {
      const output = (response.response as { output?: unknown } | undefined)?.output;
      const text = typeof output === 'string' ? output : JSON.stringify(response.response);
      api.toolResults.push(text);
      parts = [{ text: `RESULT: ${text}` }];
    } else if (declarations.includes(toolName)) {
      parts = [{ functionCall: { name: toolName, args: {} } }];
    } else if (config.responseMimeType === 'application/json' || config.responseJsonSchema || config.responseSchema) {
      parts = [{ text: JSON.stringify({ reasoning: 'fake', model_choice: 'flash', next_speaker: 'user', complexity_reasoning: 'fake', complexity_score: 1 }) }];
    } else {
      parts = [{ text: `NO TOOL: ${toolName} was not offered` }];
    }
    const payload = {
      candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 },
      modelVersion: 'fake-model',
    };
    if (!path.includes('streamGenerateContent')) return json(res, payload);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(`data: ${JSON.stringify(payload)}\r\n\r\n`);
  });
}
