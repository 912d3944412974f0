import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';

/**
 * BENCHMARK ONLY. The bare provider's two interaction pages (bench/bare-provider.ts), in the form
 * shapes bench/oauth-dance.ts submits: a sign-in form posting to …/login (username, password) and a
 * consent form posting to …/confirm. No CSRF token, no rate limit, no page headers beyond the type,
 * and the password compared in constant time without scrypt: the floor of the protocol, not a
 * sign-in anyone could use.
 */
export interface BenchUser {
  accountId: string;
  username: string;
  password: string;
}

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

/** Both sides digested first, so the comparison takes the same time whatever the lengths. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function page(res: ServerResponse, status: number, body: string): void {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>bare</title></head><body>${body}</body></html>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(html) }).end(html);
}

// uids are oidc-provider's own (URL-safe alphabet), never text from the request.
const loginPage = (uid: string, error = '') => `${error ? `<p>${error}</p>` : ''}<form method="post" action="/interaction/${uid}/login">
<input name="username" type="text"><input name="password" type="password"><button>Sign in</button></form>`;
const consentPage = (uid: string) => `<form method="post" action="/interaction/${uid}/confirm"><button>Allow</button></form>`;

async function formBody(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 8 * 1024) throw new Error('form body over 8 KiB');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

/** The grant for what the consent prompt found missing (oidc-provider's documented pattern). */
async function grantMissing(provider: Provider, interaction: Interaction, accountId: string): Promise<string> {
  const clientId = String(interaction.params.client_id);
  const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
  const grant = existing ?? new provider.Grant({ accountId, clientId });
  const details = interaction.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(details.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
  return grant.save();
}

const ROUTE = /^\/interaction\/([^/]+)(?:\/(login|confirm))?$/;

/** Handles /interaction/… requests; false for any other path (the caller hands it to oidc-provider). */
export function interactionPages(provider: Provider, user: BenchUser) {
  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    const match = ROUTE.exec(path);
    if (!match) return false;
    const [, uid, action] = match;
    try {
      const interaction = await provider.interactionDetails(req, res);
      if (interaction.uid !== uid) throw new Error('interaction and cookie do not match');
      const prompt = interaction.prompt.name;
      if (req.method === 'GET' && !action) {
        page(res, 200, prompt === 'login' ? loginPage(interaction.uid) : consentPage(interaction.uid));
      } else if (req.method === 'POST' && action === 'login' && prompt === 'login') {
        const form = await formBody(req);
        const known = form.get('username') === user.username;
        if (!sameSecret(form.get('password') ?? '', user.password) || !known) {
          page(res, 401, loginPage(interaction.uid, 'Wrong username or password.'));
          return true;
        }
        await provider.interactionFinished(req, res, { login: { accountId: user.accountId } }, { mergeWithLastSubmission: false });
      } else if (req.method === 'POST' && action === 'confirm' && prompt === 'consent') {
        await formBody(req);
        const accountId = interaction.session?.accountId;
        if (!accountId) throw new Error('consent without a signed-in account');
        const grantId = await grantMissing(provider, interaction, accountId);
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      } else {
        page(res, 400, `<p>no ${req.method} ${action ?? 'page'} for the ${prompt} prompt</p>`);
      }
    } catch (error) {
      if (!res.headersSent) page(res, 400, `<p>${error instanceof Error ? error.name : 'error'}</p>`);
    }
    return true;
  };
}
