import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { freePort } from './free-port.js';
import { ROOT, type ServerProcess } from './server-process.js';

/**
 * What the page tests play besides the browser: the app that asks for authorization (registered
 * dynamically, listening on a loopback redirect, exchanging the code), and the checks and
 * screenshots of what a person sees.
 */

/** Outside git (test-output/ is ignored): what the pages looked like on the last run. */
export const SCREENSHOTS = path.join(ROOT, 'test-output', 'screenshots');
export const STEP_TIMEOUT = 15_000;

/**
 * Where the browser is sent at the end: a real loopback listener, as a desktop app runs one
 * (RFC 8252), recording every callback's query and answering "done".
 */
export class CallbackServer {
  readonly received: URL[] = [];
  #waiters: (() => void)[] = [];

  private constructor(private readonly server: http.Server, readonly port: number) {}

  static async start(): Promise<CallbackServer> {
    const port = await freePort();
    let self: CallbackServer | undefined;
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
      if (url.pathname !== '/callback') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      self!.received.push(url);
      self!.#waiters.splice(0).forEach((wake) => wake());
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end('done');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    self = new CallbackServer(server, port);
    return self;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get redirectUri(): string {
    return `${this.origin}/callback`;
  }

  /** The callback number `index` (0-based), waiting for it if it has not arrived yet. */
  async nth(index: number, timeoutMs = STEP_TIMEOUT): Promise<URL> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length <= index) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the browser never reached ${this.redirectUri} (callback #${index + 1}) within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received[index]!;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export interface RegisteredClient {
  clientId: string;
  name: string;
  redirectUri: string;
}

/** Dynamic client registration (RFC 7591), as an MCP client does it: a public client on a loopback redirect. */
export async function register(server: ServerProcess, name: string, redirectUri: string): Promise<RegisteredClient> {
  const response = await fetch(`${server.url}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }),
    signal: AbortSignal.timeout(STEP_TIMEOUT),
  });
  const body = (await response.json()) as { client_id?: string };
  assert.equal(response.status, 201, `registration of ${name}: ${JSON.stringify(body)}`);
  assert.ok(body.client_id, 'registration returns a client_id');
  return { clientId: body.client_id, name, redirectUri };
}

export interface AuthorizationRequest {
  url: string;
  state: string;
  verifier: string;
}

/** An authorization request as the client builds it: S256 PKCE, a fresh state, the MCP resource. */
export function authorizationRequest(server: ServerProcess, client: RegisteredClient): AuthorizationRequest {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    scope: 'uuid:generate profile:read',
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    resource: server.mcpUrl,
  });
  return { url: `${server.url}/auth?${params}`, state, verifier };
}

/** The client's half after the browser came back: the code for tokens at /token. */
export async function exchangeCode(server: ServerProcess, client: RegisteredClient, request: AuthorizationRequest, code: string) {
  const response = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: client.redirectUri,
      code_verifier: request.verifier,
      client_id: client.clientId,
      resource: server.mcpUrl,
    }),
    signal: AbortSignal.timeout(STEP_TIMEOUT),
  });
  return { status: response.status, body: (await response.json()) as { access_token?: string; token_type?: string; scope?: string; error?: string } };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(SCREENSHOTS, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
  return file;
}

/** A person can see it: rendered, not hidden, with a size, and inside the page's width. */
export async function assertVisible(locator: Locator, what: string): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT }).catch(() => undefined);
  assert.ok(await locator.first().isVisible(), `${what} is visible`);
  const box = await locator.first().boundingBox();
  assert.ok(box && box.width > 0 && box.height > 0, `${what} has a size on screen`);
  const width = await locator.page().evaluate<number>('document.documentElement.clientWidth');
  assert.ok(box.x >= 0 && box.x + box.width <= width + 1, `${what} fits the page width (${box.x}+${box.width} of ${width})`);
}

/** Card text as rendered (innerText: only what is laid out and shown), whitespace collapsed. */
export async function cardText(page: Page): Promise<string> {
  return (await page.locator('main.card').innerText()).replace(/\s+/g, ' ').trim();
}

/** Our stylesheet was allowed by the CSP and applied: the primary button has the accent colour. */
export async function assertStyled(page: Page): Promise<void> {
  // Runs in the page; the tests are type-checked without the DOM library, hence the cast.
  const background = await page.locator('button.primary').first()
    .evaluate((button) => (globalThis as unknown as { getComputedStyle(element: unknown): { backgroundColor: string } }).getComputedStyle(button).backgroundColor);
  assert.equal(background, 'rgb(47, 91, 234)', 'the stylesheet loaded and styles the primary button');
}
