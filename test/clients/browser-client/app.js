// A web client of an OAuth-protected MCP server, with nothing but the browser's fetch:
// discovery from the 401 (RFC 9728, RFC 8414), dynamic registration (RFC 7591), the authorization
// code flow with PKCE (RFC 7636) and an iss check (RFC 9207), tokens bound to the MCP URL
// (RFC 8707), refresh, and MCP over Streamable HTTP. Its registration and tokens live in
// localStorage, so a reload (or a restart of the server) keeps it signed in.
// Open it as /?mcp=<MCP URL>; the authorization server sends the browser back to /callback.

const PROTOCOL_VERSION = '2025-11-25';
const REDIRECT_URI = `${location.origin}/callback`;

const saved = {
  get: (key) => JSON.parse(localStorage.getItem(key) ?? 'null'),
  set: (key, value) => localStorage.setItem(key, JSON.stringify(value)),
};
const element = (id) => document.getElementById(id);
const show = (id, text) => {
  element(id).textContent = text;
};

// ---- OAuth ----

async function readJson(response, expectedStatus, what) {
  const text = await response.text();
  if (response.status !== expectedStatus) throw new Error(`${what}: ${response.status} ${text}`);
  return JSON.parse(text);
}

/** The MCP URL's 401 names its protected resource metadata, which names the authorization server. */
async function discover(mcpUrl) {
  const probe = await fetch(mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(initializeRequest(0)),
  });
  if (probe.status !== 401) throw new Error(`${mcpUrl} without a token: expected 401, got ${probe.status} ${await probe.text()}`);
  const metadataUrl = /resource_metadata="([^"]+)"/.exec(probe.headers.get('www-authenticate') ?? '')?.[1];
  if (!metadataUrl) throw new Error('the 401 did not name its protected resource metadata');
  const resource = await readJson(await fetch(metadataUrl), 200, 'protected resource metadata');
  const issuer = resource.authorization_servers[0];
  const as = await readJson(await fetch(`${issuer}/.well-known/oauth-authorization-server`), 200, 'authorization server metadata');
  if (as.issuer !== issuer) throw new Error(`the metadata names issuer ${as.issuer}, not ${issuer}`);
  if (!as.code_challenge_methods_supported?.includes('S256')) throw new Error('the authorization server does not support PKCE S256');
  return { mcpUrl, resource: resource.resource, scope: resource.scopes_supported.join(' '), issuer, as };
}

async function register(server) {
  const response = await fetch(server.as.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'UUID web client',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  return readJson(response, 201, 'registration');
}

const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const randomString = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
const sha256 = async (text) => base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));

async function signIn() {
  const server = await discover(saved.get('mcpUrl'));
  saved.set('server', server);
  const client = saved.get('client') ?? (await register(server));
  saved.set('client', client);
  const pending = { verifier: randomString(), state: randomString() };
  sessionStorage.setItem('pending', JSON.stringify(pending));
  const url = new URL(server.as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: REDIRECT_URI,
    scope: server.scope,
    state: pending.state,
    code_challenge: await sha256(pending.verifier),
    code_challenge_method: 'S256',
    resource: server.resource,
  });
  location.assign(url);
}

async function tokenRequest(fields) {
  const server = saved.get('server');
  const response = await fetch(server.as.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...fields, client_id: saved.get('client').client_id, resource: server.resource }),
  });
  saved.set('tokens', await readJson(response, 200, `token request (${fields.grant_type})`));
}

async function finishSignIn(params) {
  const pending = JSON.parse(sessionStorage.getItem('pending') ?? 'null');
  sessionStorage.removeItem('pending');
  history.replaceState(null, '', '/'); // the code leaves the address bar
  if (!pending || params.get('state') !== pending.state) throw new Error('this sign-in was not started here (state)');
  if (params.get('iss') !== saved.get('server').issuer) throw new Error(`the answer came from ${params.get('iss')}, not the server asked (iss)`);
  if (params.has('error')) throw new Error(`sign-in refused: ${params.get('error')}`);
  await tokenRequest({ grant_type: 'authorization_code', code: params.get('code'), redirect_uri: REDIRECT_URI, code_verifier: pending.verifier });
}

// ---- MCP over Streamable HTTP ----

let session; // { id, nextId }

function initializeRequest(id) {
  return { jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'uuid-web-client', version: '1.0.0' } } };
}

/** One JSON-RPC message to /mcp with the stored access token; the answer comes as JSON or as an event stream. */
async function post(message) {
  const headers = { authorization: `Bearer ${saved.get('tokens').access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (session?.id) Object.assign(headers, { 'mcp-session-id': session.id, 'mcp-protocol-version': PROTOCOL_VERSION });
  const response = await fetch(saved.get('server').mcpUrl, { method: 'POST', headers, body: JSON.stringify(message) });
  if (response.status === 202) return { response };
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${message.method}: ${response.status} ${text}`);
  const json = response.headers.get('content-type')?.startsWith('text/event-stream')
    ? text.split('\n').filter((line) => line.startsWith('data:')).map((line) => line.slice(5)).join('\n')
    : text;
  const reply = JSON.parse(json);
  if (reply.error) throw new Error(`${message.method}: ${reply.error.message}`);
  return { response, result: reply.result };
}

async function request(method, params) {
  session.nextId += 1;
  return (await post({ jsonrpc: '2.0', id: session.nextId, method, params })).result;
}

async function connect() {
  session = undefined;
  const { response, result } = await post(initializeRequest(1));
  session = { id: response.headers.get('mcp-session-id'), nextId: 1 };
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const { tools } = await request('tools/list', {});
  show('status', `connected to ${result.serverInfo.name}`);
  show('tools', tools.map((tool) => tool.name).join(', '));
}

async function generateUuid() {
  const result = await request('tools/call', { name: 'generate_uuid', arguments: {} });
  if (result.isError) throw new Error(result.content[0].text);
  show('uuid', result.structuredContent.uuids[0]);
}

async function refresh() {
  await tokenRequest({ grant_type: 'refresh_token', refresh_token: saved.get('tokens').refresh_token });
  show('status', 'token refreshed');
  await connect();
}

// ---- The page ----

/** Runs one user action; `data-state` on <body> says when it is done (and a test waits for that). */
async function run(action) {
  document.body.dataset.state = 'busy';
  show('error', '');
  try {
    await action();
    document.body.dataset.state = saved.get('tokens') ? 'connected' : 'signed-out';
  } catch (error) {
    show('error', error.message);
    document.body.dataset.state = 'error';
  }
  const connected = document.body.dataset.state === 'connected';
  element('generate').disabled = !connected;
  element('refresh').disabled = !connected;
}

const query = new URLSearchParams(location.search);
if (query.has('mcp')) saved.set('mcpUrl', query.get('mcp'));
show('server', saved.get('mcpUrl') ?? 'none (open this page with ?mcp=<MCP URL>)');
element('connect').addEventListener('click', () => run(signIn));
element('generate').addEventListener('click', () => run(generateUuid));
element('refresh').addEventListener('click', () => run(refresh));
run(async () => {
  if (location.pathname === '/callback') await finishSignIn(query);
  if (saved.get('tokens')) await connect();
  else show('status', 'not signed in');
});
