import { html } from './html.js';
import { layout } from './layout.js';

/**
 * An upstream sign-in that worked but whose account may not use this server (an allowlist said
 * no): who was refused and why, and the way back to the application, which then receives
 * access_denied.
 */
export function upstreamRefusedPage(view: { who: string; reason: string; backTo: string }): string {
  return layout('Access refused', html`
    <h1>Access refused</h1>
    <p class="error" role="alert">${view.who} may not sign in to this server: ${view.reason}</p>
    <p class="hint">Ask the server's administrator for access, or sign in with another account.</p>
    <a class="button" href="${view.backTo}">Back to the application</a>
  `);
}
