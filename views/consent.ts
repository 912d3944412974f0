import { clientLine, type ClientSummary } from './client.js';
import { html } from './html.js';
import { layout } from './layout.js';

export interface ConsentView {
  uid: string;
  csrf: string;
  client: ClientSummary;
  /** Who is signed in. */
  userName: string;
  /** What the client asks for, in words. */
  permissions: string[];
}

export function consentPage(view: ConsentView): string {
  return layout('Allow access?', html`
    <h1>Allow access?</h1>
    ${clientLine(view.client)}
    <p>wants to act as <strong class="user">${view.userName}</strong> on this server. It asks to:</p>
    <ul class="permissions">
      ${view.permissions.map((permission) => html`<li>${permission}</li>`)}
    </ul>
    <p class="hint">Only allow this if you started this sign-in from that application just now.</p>
    <div class="actions">
      <form method="post" action="/interaction/${view.uid}/confirm">
        <input type="hidden" name="csrf" value="${view.csrf}">
        <button type="submit" class="primary">Allow</button>
      </form>
      <form method="post" action="/interaction/${view.uid}/abort">
        <input type="hidden" name="csrf" value="${view.csrf}">
        <button type="submit">Deny</button>
      </form>
    </div>
  `);
}
