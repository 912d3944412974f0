import { html, type SafeHtml } from './html.js';
import { layout } from './layout.js';

/** GET /session/end: confirm signing out of this server in this browser. `form` is oidc-provider's (it carries the xsrf token). */
export function signOutPage(form: SafeHtml, userName: string | undefined): string {
  return layout('Sign out', html`
    <h1>Sign out?</h1>
    <p>${userName ? html`You are signed in as <strong class="user">${userName}</strong>. ` : ''}Signing out ends your session on this server in this browser; applications you allowed keep their access until you revoke it.</p>
    ${form}
    <div class="actions">
      <button type="submit" form="op.logoutForm" name="logout" value="yes" class="primary">Sign out</button>
      <button type="submit" form="op.logoutForm">Stay signed in</button>
    </div>
  `);
}

/** Where /session/end ends: signed out, or (when the person chose to stay) still signed in. */
export function signedOutPage(stillSignedIn: boolean): string {
  if (stillSignedIn) {
    return layout('Still signed in', html`
      <h1>Still signed in</h1>
      <p>You stayed signed in to this server in this browser.</p>
    `);
  }
  return layout('Signed out', html`
    <h1>Signed out</h1>
    <p>You are signed out of this server in this browser.</p>
  `);
}
