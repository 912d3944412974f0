import express, { type Request, type Response, type Router } from 'express';
import type { Provider } from 'oidc-provider';
import { upstreamRefusedPage } from '../../../views/upstream-refused.js';
import type { Config } from '../../config.js';
import { PageError, UpstreamError } from '../../errors.js';
import { setPageHeaders } from '../../http/page-headers.js';
import type { Logger } from '../../log.js';
import type { UpstreamProvider, UpstreamState, User } from '../../storage/store.js';
import { githubVerdict, oidcVerdict, type Refusal } from './allowlist.js';
import type { GitHub } from './github.js';
import type { UpstreamIdentities } from './identities.js';
import type { OidcUpstream } from './oidc.js';
import type { UpstreamStates } from './states.js';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export interface UpstreamRouteDeps {
  config: Pick<Config, 'publicUrl'>;
  provider: Provider;
  github: GitHub | undefined;
  oidc: OidcUpstream | undefined;
  states: UpstreamStates;
  identities: UpstreamIdentities;
  log: Logger;
}

export const CALLBACK_PATHS: Record<UpstreamProvider, string> = { github: '/github/callback', oidc: '/oidc/callback' };

/** Who signed in upstream, for the log (login or sub, never a token). */
type Outcome = { refused: Refusal & { allowed: false }; upstreamUser: string } | { user: User; created: boolean; upstreamUser: string };

/**
 * Sign-in through GitHub or an OIDC provider, in this order: our sign-in page → the person clicks
 * the provider's button (a CSRF-checked POST, never a redirect on GET) → the upstream → its
 * callback here → our consent page → the code for the MCP client. The upstream tokens stay here.
 */
export class UpstreamSignIn {
  constructor(private readonly deps: UpstreamRouteDeps) {}

  /** The login page's buttons. */
  buttons(): { provider: UpstreamProvider; label: string }[] {
    const buttons: { provider: UpstreamProvider; label: string }[] = [];
    if (this.deps.github) buttons.push({ provider: 'github', label: 'Sign in with GitHub' });
    if (this.deps.oidc) buttons.push({ provider: 'oidc', label: `Sign in with ${this.deps.oidc.name}` });
    return buttons;
  }

  /** Where the login page's forms may lead the browser (CSP form-action follows redirects). */
  formActionSources(): string[] {
    return [this.deps.github?.authorizeOrigin, this.deps.oidc?.authorizeOrigin].filter((origin): origin is string => origin !== undefined);
  }

  isConfigured(name: string): name is UpstreamProvider {
    return (name === 'github' && this.deps.github !== undefined) || (name === 'oidc' && this.deps.oidc !== undefined);
  }

  /** The button's POST (the interaction and CSRF token already checked): 303 to the upstream's authorize URL. */
  async begin(req: Request, res: Response, interaction: Interaction, provider: UpstreamProvider): Promise<void> {
    const { github, oidc, states, log } = this.deps;
    let target: string;
    try {
      // Discovery first: a provider that cannot be reached leaves no state and no cookie behind.
      if (provider === 'oidc') await oidc!.discoverEarly();
      const started = await states.start(req, res, provider, interaction.uid);
      target = provider === 'github' ? github!.authorizeUrl(started.state, started.codeChallenge) : await oidc!.authorizeUrl(started.state, started.nonce, started.codeChallenge);
    } catch (error) {
      throw this.unavailable(req, error, provider, clientIdOf(interaction));
    }
    log.info('upstream.redirected', { provider, client: clientIdOf(interaction), ip: req.ip });
    res.redirect(303, target);
  }

  router(): Router {
    const router = express.Router();
    router.get(CALLBACK_PATHS.github, (req, res) => this.callback(req, res, 'github'));
    router.get(CALLBACK_PATHS.oidc, (req, res) => this.callback(req, res, 'oidc'));
    return router;
  }

  private async callback(req: Request, res: Response, provider: UpstreamProvider): Promise<void> {
    const { states, log } = this.deps;
    if (!this.isConfigured(provider)) throw new PageError(404, 'Not found', `Sign-in with ${provider === 'github' ? 'GitHub' : 'OpenID Connect'} is not configured on this server.`);
    const checked = await states.consume(req, provider);
    if (!checked.ok) {
      log.warn('upstream.callback_refused', { provider, reason: checked.reason, ip: req.ip });
      if (checked.status === 403) {
        throw new PageError(403, 'Sign-in refused', 'This sign-in was started in another browser (or its cookie was lost). For your safety it cannot be finished here: go back to your application and start again in this browser.');
      }
      throw new PageError(400, 'Sign-in expired', 'This sign-in link has expired or was already used. Go back to your application and start again.');
    }
    states.release(req, res, checked.binding);
    const interaction = await this.deps.provider.Interaction.find(checked.state.interactionUid);
    if (!interaction) {
      log.warn('upstream.callback_refused', { provider, reason: 'interaction_gone', ip: req.ip });
      throw new PageError(400, 'Sign-in expired', 'This sign-in request has expired. Go back to your application and start again.');
    }
    const client = String(interaction.params.client_id ?? '');
    const upstreamError = typeof req.query.error === 'string' ? req.query.error.slice(0, 100) : undefined;
    if (upstreamError !== undefined) {
      log.info('upstream.denied', { provider, error: upstreamError, client, ip: req.ip });
      if (upstreamError === 'access_denied') {
        res.redirect(303, await finish(interaction, { error: 'access_denied', error_description: 'The user did not allow the sign-in upstream' }));
        return;
      }
      throw new PageError(502, 'Sign-in failed', `${this.nameOf(provider)} refused the sign-in request (${upstreamError}). Tell the server's administrator; the app registered there may be misconfigured.`);
    }
    let outcome: Outcome;
    try {
      outcome = provider === 'github' ? await this.github(req, checked.state) : await this.oidc(req, checked.state);
    } catch (error) {
      throw this.unavailable(req, error, provider, client);
    }
    if ('refused' in outcome) {
      log.warn('upstream.refused', { provider, upstreamUser: outcome.upstreamUser, client, reason: outcome.refused.reason });
      const backTo = await finish(interaction, { error: 'access_denied', error_description: `${outcome.refused.who} may not sign in to this server` });
      setPageHeaders(res);
      res.status(403).send(upstreamRefusedPage({ who: outcome.refused.who, reason: outcome.refused.reason, backTo }));
      return;
    }
    log.info('upstream.signed_in', { provider, upstreamUser: outcome.upstreamUser, user: outcome.user.username, created: outcome.created, client, ip: req.ip });
    res.redirect(303, await finish(interaction, { login: { accountId: outcome.user.id, amr: [provider] } }));
  }

  private async github(req: Request, state: UpstreamState): Promise<Outcome> {
    const github = this.deps.github!;
    const code = queryCode(req);
    const tokens = await github.exchangeCode(code, state.codeVerifier);
    const user = await github.user(tokens.access_token);
    const settings = github.allowlist;
    // Membership is read only when it can decide: an allowed login needs no second request.
    const orgs = settings.allowedOrgs.length > 0 && !settings.allowedUsers.includes(user.login.toLowerCase()) ? await github.organizations(tokens.access_token) : undefined;
    const verdict = githubVerdict(settings, user.login, orgs);
    if (!verdict.allowed) return { refused: verdict, upstreamUser: user.login };
    return { ...(await this.deps.identities.signInWithGitHub(user, tokens)), upstreamUser: user.login };
  }

  private async oidc(req: Request, state: UpstreamState): Promise<Outcome> {
    const oidc = this.deps.oidc!;
    queryCode(req);
    // The URL the browser came back to, as the provider addressed it (PUBLIC_URL, not the proxy's view).
    const callbackUrl = new URL(req.originalUrl, this.deps.config.publicUrl);
    const signIn = await oidc.complete(callbackUrl, { state: String(req.query.state), nonce: state.nonce ?? '', codeVerifier: state.codeVerifier });
    const verdict = oidcVerdict(oidc.allowlist, signIn.claims);
    if (!verdict.allowed) return { refused: verdict, upstreamUser: signIn.sub };
    return { ...(await this.deps.identities.signInWithOidc(signIn)), upstreamUser: signIn.sub };
  }

  private nameOf(provider: UpstreamProvider): string {
    return provider === 'github' ? 'GitHub' : (this.deps.oidc?.name ?? 'The identity provider');
  }

  /** An upstream failure as the 502 page, logged with who and what (never a token). */
  private unavailable(req: Request, error: unknown, provider: UpstreamProvider, client: string): unknown {
    if (!(error instanceof UpstreamError)) return error;
    this.deps.log.warn('upstream.failed', { provider, client, ip: req.ip, reason: error.message });
    return new PageError(502, 'Sign-in failed', `${this.nameOf(provider)} could not complete the sign-in: ${error.message}. Go back to your application and try again in a moment.`);
  }
}

/** The interaction's result saved as oidc-provider's interactionResult does (the callback has no interaction cookie: the resume cookie, checked at returnTo, binds it to the browser). */
async function finish(interaction: InstanceType<Provider['Interaction']>, result: Record<string, unknown>): Promise<string> {
  interaction.result = result;
  await interaction.save(Math.max(1, (interaction.exp ?? 0) - Math.floor(Date.now() / 1000)));
  return interaction.returnTo;
}

function queryCode(req: Request): string {
  const code = typeof req.query.code === 'string' ? req.query.code : '';
  if (code === '' || code.length > 2048) throw new PageError(400, 'Sign-in failed', 'The identity provider sent the browser back without a sign-in code. Go back to your application and start again.');
  return code;
}

function clientIdOf(interaction: Interaction): string {
  return String(interaction.params.client_id ?? '');
}
