import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import type { DiscoveredMCPTool, McpContext, MCPServerConfig, OAuthCredentials } from '@google/gemini-cli-core';
import type { Page } from './form-browser.js';
import { type SignInAs, signInAndReturn } from './person-at-browser.js';
import { recordingUrlOpener } from './url-opener.js';
import { assertOneCodeExchange, recordGlobalFetch, type RecordedRequest } from './fetch-recorder.js';
import { startServerProcess, type ServerProcess, type StartOptions } from './server-process.js';
import { tempDir } from './temp-dir.js';
import { installedVersion } from './third-party.js';
import { within } from './time-limit.js';
import { isUuidV4, isUuidV7 } from './uuids.js';

export type { RecordedRequest } from './fetch-recorder.js';

/**
 * Helpers for driving Gemini CLI's own MCP OAuth code (`@google/gemini-cli-core`, installed under
 * test/third-party) in-process. Nothing here re-implements Gemini: it only replaces what a person
 * and their desktop provide (a terminal to say "yes", a browser), keeps Gemini's files in a
 * temporary home, and records the HTTP requests Gemini makes so a test can look at them.
 */

export type GeminiCore = typeof import('@google/gemini-cli-core');

/** The installed package's version, which Gemini CLI also passes as its MCP client version. */
export const GEMINI_CORE_VERSION = installedVersion('@google/gemini-cli-core');

/** Environment variables these helpers change; all restored by `GeminiSandbox.restore()`. */
const ENV_KEYS = [
  'GEMINI_CLI_HOME',
  'GEMINI_CLI_INTEGRATION_TEST',
  'GEMINI_FORCE_ENCRYPTED_FILE_STORAGE',
  'GEMINI_FORCE_FILE_STORAGE',
  'OAUTH_CALLBACK_PORT',
  'GOOGLE_CLOUD_WORKSTATIONS',
  'PATH',
] as const;

export interface GeminiSandbox {
  /** PATH as it was before the browser shims were put in front. */
  originalPath: string;
  /** GEMINI_CLI_HOME: Gemini keeps `.gemini/mcp-oauth-tokens.json` under it. */
  home: string;
  /** Every URL Gemini asked the desktop to open (the no-op browser shims log them here). */
  browserLaunches(): string[];
  restore(): void;
}

/**
 * A temporary Gemini home and a PATH on which "the browser" is a no-op script that records the URL
 * it was given and exits 0, so Gemini's real browser launch runs but opens nothing (Chromium is
 * installed on some machines). Set this up before importing the package.
 */
function geminiSandbox(): GeminiSandbox {
  const saved = new Map(ENV_KEYS.map((key) => [key, process.env[key]]));
  const home = tempDir('gemini-home');
  // The shim stands under every command Gemini's `openBrowserSecurely` tries on Linux (xdg-open, then fallbacks).
  const browser = recordingUrlOpener();
  process.env.GEMINI_CLI_HOME = home;
  // Gemini treats CI=true as headless unless this is set; it changes nothing else in the package.
  process.env.GEMINI_CLI_INTEGRATION_TEST = 'true';
  delete process.env.GEMINI_FORCE_ENCRYPTED_FILE_STORAGE;
  delete process.env.GEMINI_FORCE_FILE_STORAGE;
  delete process.env.OAUTH_CALLBACK_PORT;
  delete process.env.GOOGLE_CLOUD_WORKSTATIONS;
  process.env.PATH = `${browser.bin}${path.delimiter}${process.env.PATH ?? ''}`;
  return {
    originalPath: saved.get('PATH') ?? '',
    home,
    browserLaunches: browser.launches,
    restore() {
      for (const [key, value] of saved) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      fs.rmSync(home, { recursive: true, force: true });
      browser.remove();
    },
  };
}

/**
 * Gemini asks "Do you want to continue?" before opening the browser: on a terminal through its UI
 * (a ConsentRequest event), otherwise by reading stdin, which never answers under a test runner.
 * This makes the process look like an interactive terminal and answers yes through the UI event.
 * Returns the prompts it answered and a restore function.
 */
function answerConsentYes(gemini: GeminiCore): { prompts: string[]; restore(): void } {
  const prompts: string[] = [];
  const stdinTty = Object.getOwnPropertyDescriptor(process.stdin, 'isTTY');
  const stdoutTty = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
  Object.defineProperty(process.stdin, 'isTTY', { value: true, configurable: true, writable: true });
  Object.defineProperty(process.stdout, 'isTTY', { value: true, configurable: true, writable: true });
  const listener = ({ prompt, onConfirm }: { prompt: string; onConfirm: (confirmed: boolean) => void }) => {
    prompts.push(prompt);
    onConfirm(true);
  };
  gemini.coreEvents.on(gemini.CoreEvent.ConsentRequest, listener);
  return {
    prompts,
    restore() {
      gemini.coreEvents.off(gemini.CoreEvent.ConsentRequest, listener);
      const put = (stream: object, descriptor: PropertyDescriptor | undefined) => {
        if (descriptor) Object.defineProperty(stream, 'isTTY', descriptor);
        else delete (stream as { isTTY?: boolean }).isTTY;
      };
      put(process.stdin, stdinTty);
      put(process.stdout, stdoutTty);
    },
  };
}

/** Gemini prints the authorization URL on a line of its own in an info message ("If the browser does not open…"). */
function waitForAuthorizationUrl(gemini: GeminiCore, signal: AbortSignal): { url: Promise<URL>; messages: string[]; stop(): void } {
  const messages: string[] = [];
  let listener: ((payload: { severity: string; message: string }) => void) | undefined;
  const stop = () => {
    if (listener) gemini.coreEvents.off(gemini.CoreEvent.UserFeedback, listener);
    listener = undefined;
  };
  const url = new Promise<URL>((resolve, reject) => {
    listener = ({ severity, message }) => {
      messages.push(`[${severity}] ${message}`);
      const line = /^(https?:\/\/\S+)$/m.exec(message);
      if (severity === 'info' && line) resolve(new URL(line[1]!));
    };
    gemini.coreEvents.on(gemini.CoreEvent.UserFeedback, listener);
    signal.addEventListener('abort', () => reject(new Error(`Gemini showed no authorization URL in time; its messages: ${messages.join(' | ')}`)), { once: true });
  });
  url.catch(() => {});
  return { url, messages, stop };
}

/** Routes Gemini's developer logging (debugLogger: console.log/debug/warn/error) into a buffer. */
function captureDebugLog(gemini: GeminiCore): { lines: string[]; restore(): void } {
  const logger = gemini.debugLogger;
  const lines: string[] = [];
  const saved = { log: logger.log, warn: logger.warn, error: logger.error, debug: logger.debug };
  for (const level of ['log', 'warn', 'error', 'debug'] as const) {
    logger[level] = (...args: unknown[]) => {
      lines.push(`[${level}] ${args.map((arg) => (arg instanceof Error ? arg.message : String(arg))).join(' ')}`);
    };
  }
  return {
    lines,
    restore() {
      Object.assign(logger, saved);
    },
  };
}

/** Gemini's token file, read as Gemini writes it (a JSON array of credentials). */
export function readTokenFile(file: string): OAuthCredentials[] {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as OAuthCredentials[];
}

export function writeTokenFile(file: string, credentials: OAuthCredentials[]): void {
  fs.writeFileSync(file, JSON.stringify(credentials, null, 2), { mode: 0o600 });
}


/** Everything a suite driving Gemini needs, filled in by the hooks geminiTestbed() registers. */
export interface GeminiTestbed {
  /** The real server; a restart test may replace it. */
  server: ServerProcess;
  sandbox: GeminiSandbox;
  gemini: GeminiCore;
  /** Every request Gemini (and FormBrowser) sent the server, with the /register answers kept. */
  recorder: ReturnType<typeof recordGlobalFetch>;
  debugLog: ReturnType<typeof captureDebugLog>;
  /** Where Gemini keeps its tokens, under the sandbox's home. */
  tokenFile: string;
  /** The requests since the last step(). */
  since(): RecordedRequest[];
  /** Starts a step: since() forgets the requests before it. */
  step(): void;
  /** Fails with Gemini's own developer log and the server's output attached: they say why a step of Gemini's flow gave up. */
  explain(error: unknown): never;
}

/**
 * Call inside a describe: before its tests, a Gemini sandbox, the package and the real server on
 * a free port, with Gemini's requests recorded; after them, all of it undone. Returns the testbed
 * those hooks fill in (read its fields inside tests, not when the describe is declared).
 * `serverOptions`, when given, is called in the same before hook for the server's start options
 * (settings pointing at an upstream the suite started first, for instance).
 */
export function geminiTestbed(serverOptions: () => StartOptions | Promise<StartOptions> = () => ({})): GeminiTestbed {
  const bed = {
    since: () => bed.recorder.since(),
    step: () => bed.recorder.step(),
    explain: (error: unknown) => explainGeminiFailure(error, bed.debugLog, bed.server?.output() ?? ''),
  } as GeminiTestbed;
  before(async () => {
    bed.sandbox = geminiSandbox();
    // The package reads its environment (home, storage mode) when used: import it after setting that.
    // The import takes seconds under tsx, so the server starts meanwhile (with the PATH it would have had).
    const options = await serverOptions();
    [bed.server, bed.gemini] = await Promise.all([
      startServerProcess({ ...options, env: { ...options.env, PATH: bed.sandbox.originalPath } }),
      import('@google/gemini-cli-core'),
    ]);
    bed.debugLog = captureDebugLog(bed.gemini);
    // Gemini, the MCP SDK inside it and FormBrowser all use the global fetch.
    bed.recorder = recordGlobalFetch(bed.server.url, (request) => request.url.pathname === '/register');
    bed.tokenFile = path.join(bed.sandbox.home, '.gemini', 'mcp-oauth-tokens.json');
  }, { timeout: 90_000 });
  after(async () => {
    bed.recorder?.restore();
    bed.debugLog?.restore();
    bed.sandbox?.restore();
    await bed.server?.stop();
    if (bed.server) fs.rmSync(bed.server.dataDir, { recursive: true, force: true });
  }, { timeout: 30_000 });
  return bed;
}

/** The single server in Gemini's token file (after `/mcp auth`). */
export function storedCredentials(tokenFile: string): OAuthCredentials {
  assert.ok(fs.existsSync(tokenFile), `no Gemini token file at ${tokenFile}: the /mcp auth step did not complete`);
  const all = readTokenFile(tokenFile);
  assert.equal(all.length, 1, 'one server in the token file');
  return all[0]!;
}

/** What Gemini's configuration hands its MCP client: no environment passed through, a trusted folder, diagnostics dropped. */
export function geminiMcpContext(): McpContext {
  return {
    sanitizationConfig: { allowedEnvironmentVariables: [], blockedEnvironmentVariables: [], enableEnvironmentVariableRedaction: true },
    emitMcpDiagnostic() {},
    isTrustedFolder: () => true,
  };
}

export interface GeminiSignIn<T> {
  /** What the flow Gemini ran resolved to. */
  result: T;
  /** The authorization URL Gemini showed (and "opened"). */
  authUrl: URL;
  /** Where the browser was sent back: Gemini's callback with code, state and iss. */
  callback: URL;
  /** What Gemini asked before opening the browser. */
  prompts: string[];
  /** The server's pages the person was shown on the way (sign-in, consent), in order. */
  pages: Page[];
}

/**
 * Runs `start` (a Gemini flow that signs in: `/mcp auth`'s authenticate, or a connect that
 * discovers it must) and plays the person: answers Gemini's "continue?" with yes, signs `person`
 * in and allows through the server's real forms, and delivers the redirect to Gemini's callback
 * server. Resolves once the flow has finished with it.
 */
export async function signInThroughGemini<T>(gemini: GeminiCore, serverUrl: string, person: SignInAs, start: () => Promise<T>): Promise<GeminiSignIn<T>> {
  const shown = waitForAuthorizationUrl(gemini, AbortSignal.timeout(30_000));
  const consent = answerConsentYes(gemini);
  const flow = start();
  flow.catch(() => {});
  /** Set while Gemini's callback server waits: a failed step must close it, through its own error path. */
  let pendingCallback: string | undefined;
  try {
    const authUrl = await Promise.race([shown.url, flow.then(() => assert.fail('the flow finished without showing an authorization URL'))]);
    pendingCallback = authUrl.searchParams.get('redirect_uri') ?? undefined;
    const { callback, delivered, pages } = await signInAndReturn(serverUrl, authUrl, person);
    assert.equal(delivered.status, 200, `Gemini's callback server accepted the redirect: ${delivered.text}`);
    assert.match(delivered.text, /Authentication Successful/);
    pendingCallback = undefined;
    const result = await within(flow, 15_000, 'the flow after the callback');
    return { result, authUrl, callback, prompts: consent.prompts, pages };
  } finally {
    if (pendingCallback) await fetch(`${pendingCallback}?error=test_aborted`, { signal: AbortSignal.timeout(2_000) }).catch(() => {});
    shown.stop();
    consent.restore();
  }
}

export interface GeminiTools {
  tools: DiscoveredMCPTool[];
  /** Runs a tool as Gemini's scheduler does (build, execute) and returns the tool's own text. */
  run(serverToolName: string, args?: Record<string, unknown>): Promise<string>;
}

/**
 * Gemini's startup path for one configured server (connectToMcpServer, then discoverTools), then
 * `use` on its tools; the MCP client is closed afterwards, whatever happened.
 */
export async function withGeminiTools<T>(gemini: GeminiCore, name: string, config: MCPServerConfig, context: McpContext, use: (tools: GeminiTools) => Promise<T>): Promise<T> {
  const workspace = new gemini.WorkspaceContext(process.cwd());
  const client = await within(gemini.connectToMcpServer(GEMINI_CORE_VERSION, name, config, false, workspace, context), 20_000, 'connectToMcpServer');
  try {
    const messageBus = new gemini.MessageBus(new gemini.PolicyEngine());
    const tools = await within(gemini.discoverTools(name, config, client, context, messageBus, { timeout: 10_000 }), 15_000, 'discoverTools');
    const run = async (serverToolName: string, args: Record<string, unknown> = {}): Promise<string> => {
      const tool = tools.find((candidate) => candidate.serverToolName === serverToolName);
      assert.ok(tool, `Gemini discovered ${serverToolName}`);
      const result = await tool.build(args).execute({ abortSignal: AbortSignal.timeout(10_000) });
      assert.equal(result.error, undefined, `Gemini reports no tool error for ${serverToolName}: ${JSON.stringify(result.llmContent)}`);
      const parts = Array.isArray(result.llmContent) ? result.llmContent : [result.llmContent];
      // Gemini hands MCP text to the model wrapped in <untrusted_context> tags; the tool's own text is inside.
      const text = parts.map((part) => (typeof part === 'string' ? part : part.text ?? '')).join('');
      const wrapped = /^<untrusted_context>\n([\s\S]*)\n<\/untrusted_context>$/.exec(text);
      assert.ok(wrapped, `Gemini's wrapping of MCP output: ${text}`);
      return wrapped[1]!;
    };
    return await use({ tools, run });
  } finally {
    await within(client.close(), 5_000, 'closing the MCP client');
  }
}

/** What a refresh of `credentials` for `resource` must send (for fetch-recorder's assertOneRefresh). */
export function refreshOf(credentials: OAuthCredentials, resource: string): { refreshToken: string; clientId: string; resource: string } {
  assert.ok(credentials.token.refreshToken && credentials.clientId, 'Gemini stored a refresh token and its client id');
  return { refreshToken: credentials.token.refreshToken, clientId: credentials.clientId, resource };
}

/** Rethrows `error` with the last lines of Gemini's developer log and of the server's output: they say why a step of Gemini's flow gave up. */
function explainGeminiFailure(error: unknown, debugLog: { lines: string[] } | undefined, serverOutput: string): never {
  const tail = debugLog?.lines.slice(-40).join('\n') ?? '';
  throw Object.assign(error instanceof Error ? error : new Error(String(error)), {
    message: `${error instanceof Error ? error.message : String(error)}\n--- Gemini debug log (last lines) ---\n${tail}\n--- server output (last lines) ---\n${serverOutput.split('\n').slice(-20).join('\n')}`,
  });
}

export interface GeminiAuthorization {
  gemini: GeminiCore;
  /** The requests Gemini made during its sign-in (from the testbed's recorder; /register responses kept). */
  requests: RecordedRequest[];
  serverUrl: string;
  /** The URL Gemini was configured with (its `httpUrl` or `url`): the resource it must ask for. */
  resource: string;
  signIn: Pick<GeminiSignIn<unknown>, 'authUrl' | 'callback'>;
  browserLaunches: string[];
  tokenFile: string;
  /** What Gemini stored for the server afterwards. */
  credentials: OAuthCredentials;
}

/**
 * What a completed Gemini sign-in must have done, step by step: discovery from the configured URL
 * (HEAD → 401 with resource_metadata → that URL's protected-resource metadata → authorization
 * server metadata), one registration with Gemini's body, an authorization request with PKCE S256
 * and the configured URL as resource, the authorization response with iss, the token exchange,
 * and the credentials in Gemini's token file.
 */
export async function assertGeminiAuthorized(flow: GeminiAuthorization): Promise<void> {
  const { requests, serverUrl, resource, signIn: { authUrl, callback } } = flow;
  const resourcePath = new URL(resource).pathname;

  // Discovery as Gemini does it: HEAD <url> → 401 with resource_metadata → PRM → AS metadata.
  const head = requests.find((request) => request.method === 'HEAD' && request.url.pathname === resourcePath);
  assert.ok(head, `Gemini first probed ${resourcePath} with HEAD`);
  assert.equal(head.status, 401, `HEAD ${resourcePath} without a token is refused with 401`);
  assert.ok((head.wwwAuthenticate ?? '').startsWith('Bearer '), head.wwwAuthenticate ?? '');
  assert.ok((head.wwwAuthenticate ?? '').includes(`resource_metadata="${serverUrl}/.well-known/oauth-protected-resource${resourcePath}"`), head.wwwAuthenticate ?? '');
  assert.ok(requests.some((request) => request.method === 'GET' && request.url.pathname === `/.well-known/oauth-protected-resource${resourcePath}` && request.status === 200), 'Gemini read the protected resource metadata');
  assert.ok(requests.some((request) => request.method === 'GET' && request.url.pathname.startsWith('/.well-known/') && /oauth-authorization-server|openid-configuration/.test(request.url.pathname) && request.status === 200), 'Gemini read the authorization server metadata');
  const asMetadata = (await (await fetch(`${serverUrl}/.well-known/oauth-authorization-server`, { signal: AbortSignal.timeout(5_000) })).json()) as { issuer: string; token_endpoint: string; scopes_supported: string[] };
  assert.equal(asMetadata.issuer, serverUrl);

  // Gemini's registration: its body as it sent it, and the client the server created for it.
  const registrations = requests.filter((request) => request.method === 'POST' && request.url.pathname === '/register');
  assert.equal(registrations.length, 1, 'Gemini registered exactly once');
  const registration = registrations[0]!;
  assert.equal(registration.status, 201, `registration accepted: ${registration.responseBody}`);
  const sent = JSON.parse(registration.body!) as Record<string, unknown>;
  assert.equal(sent.client_name, 'Gemini CLI MCP Client');
  assert.equal(sent.token_endpoint_auth_method, 'none');
  assert.deepEqual(sent.grant_types, ['authorization_code', 'refresh_token']);
  assert.deepEqual(sent.response_types, ['code']);
  assert.equal(typeof sent.scope, 'string');
  assert.deepEqual((sent.scope as string).split(' ').sort(), [...asMetadata.scopes_supported].sort(), 'Gemini asks for every advertised scope');
  const redirectUri = (sent.redirect_uris as string[])[0]!;
  assert.match(redirectUri, /^http:\/\/localhost:\d+\/oauth\/callback$/);
  const registered = JSON.parse(registration.responseBody!) as { client_id: string; redirect_uris: string[]; token_endpoint_auth_method: string; client_secret?: string };
  assert.ok(registered.client_id, 'the server issued a client id');
  assert.deepEqual(registered.redirect_uris, [redirectUri]);
  assert.equal(registered.token_endpoint_auth_method, 'none');
  assert.equal(registered.client_secret, undefined, 'a public client gets no secret');

  // The authorization request: PKCE S256, the resource, the registered client and redirect.
  assert.equal(`${authUrl.origin}${authUrl.pathname}`, `${serverUrl}/auth`);
  assert.equal(authUrl.searchParams.get('client_id'), registered.client_id);
  assert.equal(authUrl.searchParams.get('redirect_uri'), redirectUri);
  assert.equal(authUrl.searchParams.get('response_type'), 'code');
  assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(authUrl.searchParams.get('resource'), resource, 'RFC 8707 resource is the configured URL');
  assert.equal(authUrl.searchParams.get('scope'), sent.scope);
  assert.deepEqual(flow.browserLaunches, [authUrl.href], 'Gemini launched "the browser" (the no-op shim) with the same URL');

  // The authorization response: back at Gemini's callback with code, state and iss (RFC 9207).
  assert.equal(`${callback.origin}${callback.pathname}`, redirectUri);
  assert.ok(callback.searchParams.get('code'));
  assert.equal(callback.searchParams.get('state'), authUrl.searchParams.get('state'));
  assert.equal(callback.searchParams.get('iss'), serverUrl, 'iss is the issuer Gemini discovered, and Gemini accepted it');

  // The token exchange: form-encoded, by the registered client, its verifier matching the challenge, the resource.
  assertOneCodeExchange(requests, { clientId: registered.client_id, redirectUri, resource, codeChallenge: authUrl.searchParams.get('code_challenge') });
  assert.ok(
    requests.findIndex((request) => request.url.pathname === '/register') < requests.findIndex((request) => request.url.pathname === '/token'),
    'registration before the token exchange',
  );

  // What Gemini stored, where Gemini keeps it.
  assert.equal(flow.gemini.Storage.getMcpOAuthTokensPath(), flow.tokenFile, 'Gemini uses the token file under the temporary GEMINI_CLI_HOME');
  const { credentials } = flow;
  assert.equal(credentials.clientId, registered.client_id, 'the stored client is the one the server registered');
  assert.equal(credentials.tokenUrl, asMetadata.token_endpoint);
  assert.equal(credentials.mcpServerUrl, resource);
  assert.ok(credentials.token.accessToken, 'access token stored');
  assert.ok(credentials.token.refreshToken, 'refresh token stored');
  assert.equal(credentials.token.tokenType.toLowerCase(), 'bearer');
  assert.ok(credentials.token.expiresAt! > Date.now() + 5 * 60_000, 'expiresAt stored, beyond Gemini\'s 5-minute refresh margin');
}

/** What the three tool calls of a connect showed, as Gemini hands them to the model. */
export interface GeminiToolOutputs {
  tools: DiscoveredMCPTool[];
  v4: string;
  v7: string;
  profile: string;
}

/** Gemini discovered both tools under its qualified names, and their outputs are what the server's tools return for admin. */
export function assertToolOutputs({ tools, v4, v7, profile }: GeminiToolOutputs): void {
  assert.deepEqual(tools.map((tool) => tool.serverToolName).sort(), ['generate_uuid', 'get_user_profile']);
  assert.ok(tools.every((tool) => tool.name.startsWith('mcp_uuid_')), `Gemini's qualified tool names: ${tools.map((tool) => tool.name).join(', ')}`);
  assert.ok(isUuidV4(v4), `v4 by default: ${v4}`);
  assert.ok(isUuidV7(v7), `v7 on request: ${v7}`);
  assert.match(profile, /^Administrator \(admin, local account\), user id /, 'the profile of the person who signed in');
}
