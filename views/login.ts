import { clientName, provenanceLine, redirectLine, type ClientSummary } from './client.js';
import { html } from './html.js';
import { layout } from './layout.js';

export interface LoginView {
  uid: string;
  csrf: string;
  client: ClientSummary;
  username?: string;
  error?: string;
  /** Upstream sign-in buttons, in order (GitHub, then the OIDC provider). */
  upstreams?: { provider: string; label: string }[];
  /** The username/password form; false when LOCAL_ACCOUNTS=false. */
  localAccounts?: boolean;
}

export function loginPage(view: LoginView): string {
  return layout('Sign in', html`
    <h1>Sign in</h1>
    <p class="client">${clientName(view.client)} wants to use this server on your behalf. Sign in to continue.</p>
    ${provenanceLine(view.client)}
    ${redirectLine(view.client)}
    ${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ''}
    ${(view.upstreams ?? []).map((upstream) => html`
    <form method="post" action="/interaction/${view.uid}/upstream/${upstream.provider}" class="upstream">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <button type="submit" class="primary">${upstream.label}</button>
    </form>`)}
    ${view.localAccounts === false ? '' : localForm(view)}
    <form method="post" action="/interaction/${view.uid}/abort">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <button type="submit" class="link">Cancel</button>
    </form>
  `);
}

function localForm(view: LoginView) {
  return html`
    ${(view.upstreams ?? []).length > 0 ? html`<p class="separator">or with a username and password</p>` : ''}
    <form method="post" action="/interaction/${view.uid}/login" autocomplete="on">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <label for="username">Username</label>
      <input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" required ${view.username ? '' : html`autofocus`} value="${view.username ?? ''}">
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required ${view.username ? html`autofocus` : ''}>
      <button type="submit" class="primary">Sign in</button>
    </form>`;
}
