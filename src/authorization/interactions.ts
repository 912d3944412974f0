import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { errors, type Provider } from 'oidc-provider';
import { authorizationErrorPage } from '../../views/authorization-error.js';
import { consentPage } from '../../views/consent.js';
import type { ClientSummary } from '../../views/client.js';
import { errorPage } from '../../views/error.js';
import { loginPage } from '../../views/login.js';
import { PageError } from '../errors.js';
import { redirectSource, setPageHeaders } from '../http/page-headers.js';
import { perAddressLimit } from '../http/rate-limit.js';
import type { Logger } from '../log.js';
import { isLoopbackHostname } from '../loopback.js';
import { normalizeUsername, type Accounts } from './accounts.js';
import { documentProblem, isMetadataDocumentClient } from './client-metadata-documents.js';
import { changedSinceShown, missingScopes, shownVersion, type ConsentField, type ConsentMemory, type MissingConsent } from './consent.js';
import { retryAfterSeconds } from './try-later.js';
import type { CsrfTokens } from './csrf.js';
import type { SignInBackoff } from './sign-in-backoff.js';
import { AS_ROUTES } from './provider.js';
import { describeScope } from './scopes.js';
import type { UpstreamSignIn } from './upstream/routes.js';
import { STATE_TTL_MS } from './upstream/states.js';

/** Upstream sign-ins one client address may start per STATE_TTL_MS (see upstreamLimit). */
export const UPSTREAM_STARTS_PER_ADDRESS = 60;

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;
type Client = InstanceType<Provider['Client']>;

export interface InteractionDeps {
  provider: Provider;
  accounts: Accounts;
  consent: ConsentMemory;
  csrf: CsrfTokens;
  log: Logger;
  /** Failed sign-ins allowed per client address per 15 minutes. */
  loginRateLimit: number;
  /** Failed sign-ins per account, from any address. */
  signInBackoff: SignInBackoff;
  /** Sign-in with GitHub / an OIDC provider (buttons on the login page, the button's POST). */
  upstream: UpstreamSignIn;
  /** Username/password sign-in (LOCAL_ACCOUNTS). */
  localAccounts: boolean;
}

/**
 * The pages between `/auth` and the redirect back to the client: sign-in, then consent. oidc-provider
 * decides which prompt is due and binds each interaction to the browser with its own cookie; these
 * routes render the prompt, check the CSRF token, and report the outcome back to it.
 */
export function interactionRoutes(deps: InteractionDeps): Router {
  const { provider, accounts, consent, csrf, log } = deps;
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '8kb', parameterLimit: 20 });
  const loginLimit = perAddressLimit({
    windowMs: 15 * 60_000,
    limit: deps.loginRateLimit,
    // Only a wrong password counts: requests refused earlier (no CSRF token, an expired sign-in)
    // would otherwise let any web page lock out everyone behind the same address.
    counts: (_req, res) => res.statusCode === 401,
    reject: (_req, res, retryAfter) => {
      setPageHeaders(res);
      res.status(429).send(errorPage('Too many attempts', 'Too many failed sign-ins from your address.', `Try again in ${Math.ceil(retryAfter / 60)} minutes.`));
    },
  });

  // Each click on an upstream button stores a state row (and a binding value in the browser):
  // bounded per address over the states' own lifetime, so the rows one address can have alive at
  // once are bounded too. 60 in 10 minutes is far more than a person clicks, and leaves room for
  // a few dozen people behind one NAT signing in at once. What counts is a started sign-in (303)
  // and a click that found the provider unreachable (502): each made requests to the provider.
  const upstreamLimit = perAddressLimit({
    windowMs: STATE_TTL_MS,
    limit: UPSTREAM_STARTS_PER_ADDRESS,
    counts: (_req, res) => res.statusCode === 303 || res.statusCode === 502,
    reject: (req, res, retryAfter) => {
      log.warn('upstream.rate_limited', { ip: req.ip });
      setPageHeaders(res);
      res.status(429).send(errorPage('Too many attempts', 'Too many sign-ins were started from your address.', `Try again in ${inWords(retryAfter)}.`));
    },
  });

  /** The interaction named in the URL, which must be the one this browser's cookie is bound to. */
  const load = async (req: Request, res: Response): Promise<Interaction> => {
    const interaction = await provider.interactionDetails(req, res);
    if (interaction.uid !== req.params.uid) throw new errors.SessionNotFound('interaction and cookie do not match');
    return interaction;
  };

  /** A form post: the interaction, after the CSRF token was checked. */
  const submitted = async (req: Request, res: Response): Promise<Interaction> => {
    const interaction = await load(req, res);
    if (!csrf.verify(interaction.uid, (req.body as Record<string, unknown> | undefined)?.csrf)) {
      log.warn('interaction.csrf_rejected', { ip: req.ip, client: clientIdOf(interaction) });
      throw new PageError(403, 'Request refused', 'This form was not submitted from the sign-in page (missing or wrong CSRF token).');
    }
    return interaction;
  };

  const summary = (interaction: Interaction, client: Client | undefined): ClientSummary => {
    const redirect = URL.parse(String(interaction.params.redirect_uri ?? ''));
    return {
      name: typeof client?.clientName === 'string' ? client.clientName : undefined,
      documentUrl: client && isMetadataDocumentClient(client) ? client.clientId : undefined,
      redirectHost: redirect?.host || 'an unknown address',
      local: redirect ? isLoopbackHostname(redirect.hostname) : false,
    };
  };

  const renderLogin = async (res: Response, interaction: Interaction, status: number, extra: { username?: string; error?: string } = {}) => {
    const client = await provider.Client.find(clientIdOf(interaction));
    // The upstream buttons' POST is redirected to the provider: CSP form-action must allow it.
    setPageHeaders(res, [...redirectSource(interaction.params.redirect_uri), ...deps.upstream.formActionSources()]);
    res.status(status).send(loginPage({
      uid: interaction.uid,
      csrf: csrf.issue(interaction.uid),
      client: summary(interaction, client),
      upstreams: deps.upstream.buttons(),
      localAccounts: deps.localAccounts,
      ...extra,
    }));
  };

  /**
   * The client the interaction is for. Looking it up may fetch its metadata document again (the
   * cached one expired), which can fail for a while; those errors, and a client no longer
   * registered, are the authorization's OAuth errors, on the error page.
   */
  const clientOf = async (interaction: Interaction): Promise<Client> => {
    const client = await provider.Client.find(clientIdOf(interaction));
    if (!client) throw new errors.InvalidClient('the application is no longer registered with this server');
    return client;
  };

  const renderConsent = async (res: Response, interaction: Interaction, client: Client, changedWhileShown: ConsentField[] = []) => {
    const user = await accounts.findById(interaction.session?.accountId ?? '');
    if (!user) throw new errors.SessionNotFound('account no longer exists');
    // Apps on the user's machine are asked every time (consent-policy.ts); when everything was
    // approved before, the page says so and asks only to continue.
    const missing = missingScopes(interaction.prompt.details as MissingConsent);
    const alreadyAllowed = missing.length === 0;
    const requested = String(interaction.params.scope ?? '').split(' ').filter(Boolean);
    setPageHeaders(res, redirectSource(interaction.params.redirect_uri));
    res.send(consentPage({
      uid: interaction.uid,
      csrf: csrf.issue(interaction.uid),
      client: summary(interaction, client),
      userName: user.displayName === user.username ? user.username : `${user.displayName} (${user.username})`,
      alreadyAllowed,
      changedSinceApproval: await consent.changedSinceApproval(user.id, client),
      changedWhileShown,
      documentVersion: shownVersion(client),
      permissions: permissionsFor(alreadyAllowed ? requested : missing, client.grantTypeAllowed('refresh_token')),
    }));
  };

  router.get('/interaction/:uid', async (req, res) => {
    const interaction = await load(req, res);
    if (interaction.prompt.name === 'login') {
      await renderLogin(res, interaction, 200);
      return;
    }
    if (interaction.prompt.name !== 'consent') {
      throw new PageError(400, 'Unsupported request', `This server cannot handle the "${interaction.prompt.name}" step.`);
    }
    await renderConsent(res, interaction, await clientOf(interaction));
  });

  router.post('/interaction/:uid/login', loginLimit, form, async (req, res) => {
    const interaction = await submitted(req, res);
    if (interaction.prompt.name !== 'login') throw new PageError(400, 'Already signed in', 'This sign-in step is already done; go back to your application.');
    if (!deps.localAccounts) {
      log.warn('login.local_accounts_off', { ip: req.ip, client: clientIdOf(interaction) });
      throw new PageError(403, 'Password sign-in is off', 'This server signs people in only through the buttons on its sign-in page.');
    }
    const body = req.body as Record<string, unknown>;
    const username = typeof body.username === 'string' ? body.username.slice(0, 200) : '';
    const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
    const wait = username && password ? await deps.signInBackoff.begin(username) : undefined;
    if (wait !== undefined) {
      // Refused before the password is checked, the same for an unknown name as for a known one.
      const known = await accounts.isKnown(username);
      log.warn('login.backoff', { user: known ? normalizeUsername(username) : 'unknown', ip: req.ip, client: clientIdOf(interaction), wait });
      res.set('Retry-After', String(wait));
      await renderLogin(res, interaction, 429, { username, error: `Too many failed sign-ins for this username. Try again in ${inWords(wait)}.` });
      return;
    }
    const user = username && password ? await accounts.authenticate(username, password) : undefined;
    if (!user) {
      // What was typed is logged only when it names an account: people type passwords into the wrong field.
      const known = username !== '' && (await accounts.isKnown(username));
      log.warn('login.failed', { user: known ? normalizeUsername(username) : 'unknown', ip: req.ip, client: clientIdOf(interaction) });
      await renderLogin(res, interaction, 401, { username, error: 'Wrong username or password.' });
      return;
    }
    await deps.signInBackoff.succeeded(username);
    log.info('login.succeeded', { user: user.username, ip: req.ip, client: clientIdOf(interaction) });
    await provider.interactionFinished(req, res, { login: { accountId: user.id, amr: ['pwd'] } }, { mergeWithLastSubmission: false });
  });

  // "Sign in with GitHub" / "Sign in with {OIDC_NAME}": only ever on this click, never on GET
  // /auth, and our consent page still follows the upstream's callback (upstream/routes.ts).
  router.post('/interaction/:uid/upstream/:provider', upstreamLimit, form, async (req, res) => {
    const provider = String(req.params.provider);
    if (!deps.upstream.isConfigured(provider)) throw new PageError(404, 'Not found', 'This sign-in method is not configured on this server.');
    const interaction = await submitted(req, res);
    if (interaction.prompt.name !== 'login') throw new PageError(400, 'Already signed in', 'This sign-in step is already done; go back to your application.');
    await deps.upstream.begin(req, res, interaction, provider);
  });

  router.post('/interaction/:uid/confirm', form, async (req, res) => {
    const interaction = await submitted(req, res);
    if (interaction.prompt.name !== 'consent') throw new PageError(400, 'Nothing to approve', 'This request does not need your approval; go back to your application.');
    const accountId = interaction.session?.accountId;
    if (!accountId) throw new errors.SessionNotFound('not signed in');
    const clientId = clientIdOf(interaction);
    const client = await clientOf(interaction);
    // The document may have been fetched again since the page was shown: what is approved, and
    // remembered, is only ever the version the user saw.
    const changed = changedSinceShown((req.body as Record<string, unknown>).document, client);
    if (changed.length > 0) {
      log.info('consent.document_changed', { account: accountId, client: clientId, fields: changed.join(',') });
      await renderConsent(res, interaction, client, changed);
      return;
    }
    const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
    const grant = existing ?? new provider.Grant({ accountId, clientId });
    const grantId = await consent.approve(grant, interaction.prompt.details as MissingConsent, client);
    log.info('consent.granted', { account: accountId, client: clientId });
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  });

  // "Not you?": the same authorization request again, asking for a fresh sign-in. When another
  // account signs in, oidc-provider ends the previous browser session before continuing.
  router.post('/interaction/:uid/switch', form, async (req, res) => {
    const interaction = await submitted(req, res);
    const again = new URLSearchParams();
    for (const [key, value] of Object.entries(interaction.params)) {
      if (typeof value === 'string') again.set(key, value);
    }
    again.set('prompt', 'login');
    res.redirect(303, `${AS_ROUTES.authorization}?${again.toString()}`);
  });

  router.post('/interaction/:uid/abort', form, async (req, res) => {
    const interaction = await submitted(req, res);
    log.info('consent.denied', { account: interaction.session?.accountId, client: clientIdOf(interaction) });
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user did not allow access' }, { mergeWithLastSubmission: false });
  });

  // oidc-provider's "no such interaction for this browser" becomes a page a person understands;
  // its other errors, the authorization error page; the rest (PageError included) go on to the
  // app's error handler.
  router.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (error instanceof errors.SessionNotFound || error instanceof errors.InvalidRequest) {
      log.warn('interaction.not_found', { ip: req.ip, reason: error.error_description ?? error.message });
      next(new PageError(400, 'Sign-in expired', 'This sign-in request has expired or was started in another browser. Go back to your application and start again.'));
      return;
    }
    // Mostly a client that could not be looked up (its document could not be fetched, too many
    // fetches at once, a registration deleted): the page an authorization request gets for it.
    if (error instanceof errors.OIDCProviderError) {
      log.warn('interaction.refused', { ip: req.ip, error: error.error, reason: error.error_description ?? error.message });
      setPageHeaders(res);
      const retryAfter = retryAfterSeconds(error);
      if (retryAfter !== undefined) res.set('Retry-After', String(retryAfter));
      res.status(error.statusCode).send(authorizationErrorPage(error, documentProblem(error)));
      return;
    }
    next(error);
  });

  return router;
}

/** "1 second", "40 seconds", "3 minutes". */
function inWords(seconds: number): string {
  if (seconds < 60) return seconds === 1 ? '1 second' : `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

function clientIdOf(interaction: Interaction): string {
  return String(interaction.params.client_id ?? '');
}

/** The consent page's list, in words: the scopes, plus staying signed in when the client can refresh. */
export function permissionsFor(requested: string[], refreshes: boolean): string[] {
  const scopes = [...requested];
  if (refreshes) scopes.push('offline_access');
  const words = [...new Set(scopes)].map(describeScope).filter((text): text is string => Boolean(text));
  return words.length > 0 ? words : ['Use this server as you'];
}
