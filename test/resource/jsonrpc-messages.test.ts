import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInitializeRequest, isJSONRPCRequest, isJSONRPCResultResponse, isJSONRPCErrorResponse, JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { isInitialize, isRequest, isResponse, parseMessage } from '../../src/resource/jsonrpc-messages.js';

const SEED = Number(process.env.PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** Values of every JSON type, biased to the ones a message's members take and the edges of each. */
const id = fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constantFrom(1.5, 2 ** 53, -(2 ** 53), -0, 0), fc.constant(null), fc.boolean());
const anyJson = fc.jsonValue({ maxDepth: 2 });
const meta = fc.oneof(
  fc.constant(undefined),
  fc.record({ progressToken: fc.oneof(id, anyJson) }, { requiredKeys: [] }),
  fc.record({ 'io.modelcontextprotocol/related-task': fc.oneof(fc.record({ taskId: fc.string() }), anyJson), other: anyJson }, { requiredKeys: [] }),
  anyJson,
);
const container = fc.oneof(
  fc.constant(undefined),
  fc.record({ _meta: meta, name: fc.string({ maxLength: 3 }), arguments: anyJson }, { requiredKeys: [] }),
  fc.constant(JSON.parse('{"__proto__":{"polluted":1}}')),
  fc.constant(JSON.parse('{"_meta":{"__proto__":{"polluted":1}}}')),
  anyJson,
);
const key = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
/** Objects shaped like every kind of JSON-RPC message, and near misses of each. */
const messageLike = fc.oneof(
  fc.record({
    jsonrpc: fc.constantFrom('2.0', '1.0', 2),
    id: key(id),
    method: key(fc.oneof(fc.constantFrom('tools/call', 'initialize', 'notifications/initialized'), anyJson)),
    params: container,
    result: key(container),
    error: key(fc.oneof(fc.record({ code: id, message: fc.oneof(fc.string(), anyJson), data: anyJson }, { requiredKeys: [] }), anyJson)),
    extra: key(anyJson),
  }, { requiredKeys: [] }),
  anyJson,
);

/** Drops the keys whose value is undefined (a JSON body has none) and copies through JSON, as the body parser would deliver it. */
const asParsedJson = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

describe('incoming JSON-RPC messages, validated once', () => {
  it(`accepts exactly what the SDK's JSONRPCMessageSchema accepts, and returns what it returns (seed ${SEED})`, () => {
    fc.assert(
      fc.property(messageLike, (generated) => {
        const value = asParsedJson(generated);
        if (value === undefined) return;
        const sdk = JSONRPCMessageSchema.safeParse(value);
        let ours: unknown;
        let threw = false;
        try {
          ours = parseMessage(value);
        } catch {
          threw = true;
        }
        assert.equal(!threw, sdk.success, JSON.stringify(value));
        if (sdk.success) {
          assert.deepEqual(ours, sdk.data, JSON.stringify(value));
          const message = ours as Parameters<typeof isRequest>[0];
          assert.equal(isRequest(message), isJSONRPCRequest(value), `request? ${JSON.stringify(value)}`);
          assert.equal(isResponse(message), isJSONRPCResultResponse(value) || isJSONRPCErrorResponse(value), `response? ${JSON.stringify(value)}`);
          assert.equal(isInitialize(message), isInitializeRequest(value), `initialize? ${JSON.stringify(value)}`);
        }
      }),
      { seed: SEED, numRuns: 5_000 },
    );
  });

  it('takes the messages clients send without asking the schema, and leaves them as they are', () => {
    const call = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'generate_uuid', arguments: { count: 2 }, _meta: { progressToken: 'p' } } };
    assert.equal(parseMessage(call), call);
    const note = { jsonrpc: '2.0', method: 'notifications/initialized' };
    assert.equal(parseMessage(note), note);
    const answer = { jsonrpc: '2.0', id: 'a', result: { action: 'accept', content: {} } };
    assert.equal(parseMessage(answer), answer);
  });

  it('refuses what the schema refuses, with the schema\'s own error', () => {
    for (const bad of [{ jsonrpc: '2.0', id: 1.5, method: 'x' }, { jsonrpc: '2.0', id: 1, method: 'x', extra: true }, { id: 1, method: 'x' }, [], null, 'x']) {
      assert.throws(() => parseMessage(bad), (error: Error) => error.name === 'ZodError', JSON.stringify(bad));
    }
  });
});
