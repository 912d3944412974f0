import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  LoggingLevelSchema,
  McpError,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type ElicitRequestFormParams,
  type LoggingLevel,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/**
 * TEST ONLY (TEST_ONLY_CONFORMANCE_FIXTURES=true): the tools, resources and prompts that the
 * official MCP conformance suite's server scenarios call by fixed name (its "everything server"
 * contract). They are added to the same McpServer as the real tools, so the suite reaches them
 * through the real transport, sessions and bearer guard. Never enable in production: they are
 * there to be called by a test, and some ask the client for sampling or user input.
 */

// A 1×1 PNG, and a WAV built here: 10 ms of 8 kHz 8-bit mono silence.
const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV_BASE64 = wav(8000, new Uint8Array(80).fill(128)).toString('base64');

function wav(sampleRate: number, samples: Uint8Array): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + samples.length, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate, 28); // bytes per second
  header.writeUInt16LE(1, 32); // block align
  header.writeUInt16LE(8, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(samples.length, 40);
  return Buffer.concat([header, samples]);
}

/**
 * SEP-1613: a tool whose inputSchema is a JSON Schema 2020-12 document and must reach tools/list
 * unchanged. The SDK lists zod schemas as draft-07; zod merges `.meta()` into the JSON Schema it
 * generates, so this document, given as the schema's metadata, is what is listed, while the zod
 * schema validates calls.
 */
const JSON_SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
  },
  additionalProperties: false,
} as const;

const jsonSchema2020Input = z
  .strictObject({
    name: z.string().optional(),
    address: z.looseObject({ street: z.string().optional(), city: z.string().optional() }).optional(),
  })
  .meta(JSON_SCHEMA_2020_12);

type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const LEVELS = LoggingLevelSchema.options;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (value: string) => ({ type: 'text' as const, text: value });

/** Elicitation request schemas: SEP-1034 defaults of every primitive type, and SEP-1330's five enum forms. */
const DEFAULTS_SCHEMA: ElicitRequestFormParams['requestedSchema'] = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'Name', default: 'John Doe' },
    age: { type: 'integer', description: 'Age', default: 30 },
    score: { type: 'number', description: 'Score', default: 95.5 },
    status: { type: 'string', description: 'Status', enum: ['active', 'inactive', 'pending'], default: 'active' },
    verified: { type: 'boolean', description: 'Verified', default: true },
  },
};

const ENUMS_SCHEMA: ElicitRequestFormParams['requestedSchema'] = {
  type: 'object',
  properties: {
    untitledSingle: { type: 'string', description: 'Pick one', enum: ['option1', 'option2', 'option3'] },
    titledSingle: {
      type: 'string',
      description: 'Pick one (titled)',
      oneOf: [{ const: 'value1', title: 'First' }, { const: 'value2', title: 'Second' }, { const: 'value3', title: 'Third' }],
    },
    legacyEnum: { type: 'string', description: 'Pick one (legacy titles)', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option 1', 'Option 2', 'Option 3'] },
    untitledMulti: { type: 'array', description: 'Pick any', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
    titledMulti: {
      type: 'array',
      description: 'Pick any (titled)',
      items: { anyOf: [{ const: 'value1', title: 'First' }, { const: 'value2', title: 'Second' }, { const: 'value3', title: 'Third' }] },
    },
  },
};

const LISTED_RESOURCES = ['test://static-text', 'test://static-binary', 'test://watched-resource'];

/** Adds the conformance fixtures to `server` (a session's server, before it is connected). */
export function addConformanceFixtures(server: McpServer): void {
  server.server.registerCapabilities({ logging: {}, resources: { subscribe: true } });

  // logging/setLevel: the threshold for this session's log notifications.
  let threshold: LoggingLevel | undefined;
  server.server.setRequestHandler(SetLevelRequestSchema, (request) => {
    threshold = request.params.level;
    return {};
  });
  const shouldLog = (level: LoggingLevel) => threshold === undefined || LEVELS.indexOf(level) >= LEVELS.indexOf(threshold);

  const noArguments = {};

  server.registerTool('test_simple_text', { description: 'Returns one text item.', inputSchema: noArguments }, () => ({
    content: [text('This is a simple text response for testing.')],
  }));

  server.registerTool('test_image_content', { description: 'Returns one image item (a 1×1 PNG).', inputSchema: noArguments }, () => ({
    content: [{ type: 'image', data: PNG_BASE64, mimeType: 'image/png' }],
  }));

  server.registerTool('test_audio_content', { description: 'Returns one audio item (a short silent WAV).', inputSchema: noArguments }, () => ({
    content: [{ type: 'audio', data: WAV_BASE64, mimeType: 'audio/wav' }],
  }));

  server.registerTool('test_embedded_resource', { description: 'Returns one embedded text resource.', inputSchema: noArguments }, () => ({
    content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
  }));

  server.registerTool('test_multiple_content_types', { description: 'Returns text, an image and an embedded resource.', inputSchema: noArguments }, () => ({
    content: [
      text('Multiple content types test:'),
      { type: 'image', data: PNG_BASE64, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
    ],
  }));

  server.registerTool('test_tool_with_logging', { description: 'Sends three info log messages while it runs.', inputSchema: noArguments }, async (_args, extra) => {
    for (const [index, message] of ['Tool execution started', 'Tool processing data', 'Tool execution completed'].entries()) {
      if (index > 0) await sleep(50);
      if (shouldLog('info')) await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: 'conformance-fixtures', data: message } });
    }
    return { content: [text('Tool with logging executed successfully')] };
  });

  server.registerTool('test_tool_with_progress', { description: 'Reports progress 0, 50 and 100 of 100 to the request\'s progress token.', inputSchema: noArguments }, async (_args, extra) => {
    const progressToken = extra._meta?.progressToken;
    for (const progress of [0, 50, 100]) {
      if (progress > 0) await sleep(50);
      if (progressToken !== undefined) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress, total: 100, message: `Completed ${progress} of 100` } });
      }
    }
    return { content: [text(`Progress reported to token ${String(progressToken)}`)] };
  });

  server.registerTool('test_error_handling', { description: 'Always fails with a tool error (isError).', inputSchema: noArguments }, () => ({
    isError: true,
    content: [text('This tool intentionally returns an error for testing')],
  }));

  server.registerTool(
    'test_sampling',
    { description: 'Asks the client to sample an LLM completion for the prompt.', inputSchema: { prompt: z.string().describe('The prompt to send to the LLM') } },
    async ({ prompt }, extra) => {
      const result = await extra.sendRequest(
        { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: text(prompt) }], maxTokens: 100 } },
        CreateMessageResultSchema,
      );
      const reply = result.content.type === 'text' ? result.content.text : `(${result.content.type})`;
      return { content: [text(`LLM response: ${reply}`)] };
    },
  );

  const elicit = async (extra: ToolExtra, message: string, requestedSchema: ElicitRequestFormParams['requestedSchema']) => {
    const result = await extra.sendRequest({ method: 'elicitation/create', params: { message, requestedSchema } }, ElicitResultSchema);
    return { content: [text(`User response: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`)] };
  };

  server.registerTool(
    'test_elicitation',
    { description: 'Asks the user, through the client, to answer the message.', inputSchema: { message: z.string().describe('The message to show the user') } },
    ({ message }, extra) => elicit(extra, message, { type: 'object', properties: { response: { type: 'string', description: 'Your answer' } }, required: ['response'] }),
  );

  server.registerTool(
    'test_elicitation_sep1034_defaults',
    { description: 'Asks the user for a form whose fields all have defaults (SEP-1034).', inputSchema: noArguments },
    (_args, extra) => elicit(extra, 'Please review the fields; each has a default', DEFAULTS_SCHEMA),
  );

  server.registerTool(
    'test_elicitation_sep1330_enums',
    { description: 'Asks the user to choose in each of the five enum forms (SEP-1330).', inputSchema: noArguments },
    (_args, extra) => elicit(extra, 'Please choose options', ENUMS_SCHEMA),
  );

  server.registerTool(
    'json_schema_2020_12_tool',
    { description: 'Takes arguments described by a JSON Schema 2020-12 document (SEP-1613).', inputSchema: jsonSchema2020Input },
    (args) => ({ content: [text(`Called with ${JSON.stringify(args)}`)] }),
  );

  server.registerTool(
    'test_reconnection',
    {
      description: 'Closes the request\'s SSE stream before answering (SEP-1699): a client that can resume gets the result on its reconnection.',
      inputSchema: noArguments,
    },
    async (_args, extra) => {
      // Offered by the transport only when it can resume the stream (an event store, and a client at 2025-11-25 or later).
      extra.closeSSEStream?.();
      return { content: [text(extra.closeSSEStream ? 'Answered after the stream was closed' : 'Answered on the open stream: this client cannot resume')] };
    },
  );

  server.registerResource('static-text', 'test://static-text', { description: 'A fixed text resource.', mimeType: 'text/plain' }, (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
  }));

  server.registerResource('static-binary', 'test://static-binary', { description: 'A fixed binary resource (a 1×1 PNG).', mimeType: 'image/png' }, (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG_BASE64 }],
  }));

  server.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { description: 'Data for any id.', mimeType: 'application/json' },
    (uri, { id }) => ({ contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ id, data: `Data for ID: ${String(id)}` }) }] }),
  );

  server.registerResource('watched-resource', 'test://watched-resource', { description: 'A resource clients may subscribe to.', mimeType: 'text/plain' }, (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Watched resource content' }],
  }));

  // resources/subscribe and unsubscribe: accepted for the listed resources. They never change, so
  // no update notification ever follows.
  const acknowledge = (request: { params: { uri: string } }) => {
    if (!LISTED_RESOURCES.includes(request.params.uri)) throw new McpError(ErrorCode.InvalidParams, `Resource ${request.params.uri} not found`);
    return {};
  };
  server.server.setRequestHandler(SubscribeRequestSchema, acknowledge);
  server.server.setRequestHandler(UnsubscribeRequestSchema, acknowledge);

  server.registerPrompt('test_simple_prompt', { description: 'A prompt without arguments.' }, () => ({
    messages: [{ role: 'user', content: text('This is a simple prompt for testing.') }],
  }));

  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with two arguments (the first one completes).',
      argsSchema: {
        arg1: completable(z.string().describe('First argument'), (value) => ['testValue1', 'testValue2'].filter((option) => option.startsWith(value))),
        arg2: z.string().describe('Second argument'),
      },
    },
    ({ arg1, arg2 }) => ({ messages: [{ role: 'user', content: text(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`) }] }),
  );

  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    { description: 'A prompt that embeds the resource it is given.', argsSchema: { resourceUri: z.string().describe('URI of the resource to embed') } },
    ({ resourceUri }) => ({
      messages: [
        { role: 'user', content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
        { role: 'user', content: text('Please process the embedded resource above.') },
      ],
    }),
  );

  server.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image.' }, () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: PNG_BASE64, mimeType: 'image/png' } },
      { role: 'user', content: text('Please describe the image above.') },
    ],
  }));
}
