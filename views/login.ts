import { clientName, provenanceLine, redirectLine, type ClientSummary } from './client.js';
import { html } from './html.js';
import { layout } from './layout.js';

export interface LoginView {
  uid: string;
  csrf: string;
  client: ClientSummary;
  username?: string;
  error?: string;
}

export function loginPage(view: LoginView): string {
  return layout('Sign in', html`
    <h1>Sign in</h1>
    <p class="client">${clientName(view.client)} wants to use this server on your behalf. Sign in to continue.</p>
    ${provenanceLine(view.client)}
    ${redirectLine(view.client)}
    ${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ''}
    <form method="post" action="/interaction/${view.uid}/login" autocomplete="on">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <label for="username">Username</label>
      <input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" required ${view.username ? '' : html`autofocus`} value="${view.username ?? ''}">
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required ${view.username ? html`autofocus` : ''}>
      <button type="submit" class="primary">Sign in</button>
    </form>
    <form method="post" action="/interaction/${view.uid}/abort">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <button type="submit" class="link">Cancel</button>
    </form>
  `);
}
