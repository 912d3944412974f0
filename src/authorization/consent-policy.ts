import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { isLoopbackHostname } from '../loopback.js';

/** A redirect that lands on the user's own machine: loopback http, or a private-use scheme. */
function landsOnThisMachine(uri: string): boolean {
  const url = URL.parse(uri);
  if (!url) return false;
  if (url.protocol === 'http:' || url.protocol === 'https:') return url.protocol === 'http:' && isLoopbackHostname(url.hostname);
  return true;
}

/**
 * oidc-provider's sign-in and consent prompts, with its `native_client_prompt` widened: any client
 * whose redirect URIs land on the user's machine is asked every time, whatever `application_type`
 * it registered, since any program there can use its client id and receive the code (RFC 8252
 * §8.6). Remembered consent then only shortens the page; clients on the web skip it.
 */
export function consentPolicy(): interactionPolicy.DefaultPolicy {
  const policy = interactionPolicy.base();
  const consent = policy.get('consent')!;
  const at = consent.checks.findIndex((check) => check.reason === 'native_client_prompt');
  consent.checks.remove('native_client_prompt');
  consent.checks.add(new interactionPolicy.Check(
    'local_client_prompt',
    'clients that receive codes on the user\'s machine need the user to approve each authorization',
    'interaction_required',
    (ctx: KoaContextWithOIDC) => {
      const { client, params, result } = ctx.oidc;
      if (result?.consent || params?.response_type === 'none' || !client) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const local = client.applicationType === 'native' || client.redirectUris?.some(landsOnThisMachine);
      return local ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    },
  ), at === -1 ? undefined : at);
  return policy;
}
