import { html, type SafeHtml } from './html.js';

/** Who is asking: what every page in an authorization shows, so a user can tell a real app from a lookalike. */
export interface ClientSummary {
  /** The name the client registered with; anyone can register any name. */
  name: string | undefined;
  /**
   * For a client whose id is the URL of its metadata document: the host that document was fetched
   * from over https. Unlike the name, it cannot be made up (e.g. "claude.ai").
   */
  publishedBy?: string;
  /** Where the browser goes afterwards (host and port of the redirect URI). */
  redirectHost: string;
  /** True when the redirect goes to an app on the user's own machine. */
  local: boolean;
}

export function clientName(client: ClientSummary): SafeHtml {
  const name = html`<strong class="client-name">${client.name ?? 'An unnamed application'}</strong>`;
  return client.publishedBy ? html`${name} <span class="client-origin">(published by <strong>${client.publishedBy}</strong>)</span>` : name;
}

export function redirectLine(client: ClientSummary): SafeHtml {
  return html`<p class="redirect">It will receive the result at <code>${client.redirectHost}</code>${client.local ? ' (an app on this computer)' : ''}.</p>`;
}
