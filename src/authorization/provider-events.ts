import type { errors, KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { Logger } from '../log.js';
import type { Store } from '../storage/store.js';

/**
 * What the server does when oidc-provider reports something: logs refusals and faults as events
 * (never tokens), and keeps consent and tokens in step with registrations.
 */
export function reactToProviderEvents(provider: Provider, store: Store, log: Logger): void {
  const events = provider as unknown as NodeJS.EventEmitter;
  for (const event of ['server_error', 'grant.error', 'registration_create.error', 'introspection.error', 'revocation.error', 'authorization.error']) {
    events.on(event, (ctx: KoaContextWithOIDC, error: errors.OIDCProviderError) => {
      const fields = { route: ctx.oidc?.route, client: ctx.oidc?.client?.clientId, ip: ctx.ip, error: error.error_description ?? error.message, code: error.error };
      if (event === 'server_error') log.error('oauth.server_error', { ...fields, error: error.stack ?? error.message });
      else log.warn(`oauth.${event.replace('.error', '')}_refused`, fields);
    });
  }
  provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
    log.warn('oauth.grant_revoked', { grant: grantId, client: ctx.oidc?.client?.clientId, route: ctx.oidc?.route });
  });
  // A changed registration (new redirect URIs, a new name) is not what the user approved.
  provider.on('registration_update.success', (_ctx: KoaContextWithOIDC, client: { clientId: string }) => {
    void store.consents.forgetClient(client.clientId).catch((error: unknown) => log.error('consent.forget_failed', { client: client.clientId, error }));
  });
  // A deleted client's tokens die with it.
  provider.on('registration_delete.success', (_ctx: KoaContextWithOIDC, client: { clientId: string }) => {
    void Promise.all([store.models.revokeByClientId(client.clientId), store.consents.forgetClient(client.clientId)])
      .catch((error: unknown) => log.error('client.revoke_failed', { client: client.clientId, error }));
    log.info('client.deleted', { client: client.clientId });
  });
  // Koa would print raw stack traces (e.g. for a body cut off mid-request); log them as events instead.
  events.on('error', (error: Error & { status?: number; expose?: boolean }, ctx?: KoaContextWithOIDC) => {
    log.warn('oauth.http_error', { path: ctx?.path, status: error.status, error: error.message });
  });

}
