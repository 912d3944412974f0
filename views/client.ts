import { html, type SafeHtml } from './html.js';

/** Who is asking: what every page in an authorization shows, so a user can tell a real app from a lookalike. */
export interface ClientSummary {
  /** The name the client gave itself; anyone can register or publish any name. */
  name: string | undefined;
  /**
   * For a client whose id is the URL of its metadata document: that URL, which the document was
   * fetched from over https. Unlike the name, it is this server's own finding.
   */
  documentUrl?: string;
  /** Where the browser goes afterwards (host and port of the redirect URI). */
  redirectHost: string;
  /** True when the redirect goes to an app on the user's own machine. */
  local: boolean;
}

/** The client's name, only ever as a name: whatever it says about who published it is its own claim. */
export function clientName(client: ClientSummary): SafeHtml {
  return html`<strong class="client-name">${client.name ?? 'An unnamed application'}</strong>`;
}

/** How this server knows the client, on a line of its own that the client's metadata cannot write. */
export function provenanceLine(client: ClientSummary): SafeHtml {
  return client.documentUrl
    ? html`<p class="provenance">Identified by its metadata document at <code>${client.documentUrl}</code></p>`
    : html`<p class="provenance">Registered itself with this server (not verified)</p>`;
}

export function redirectLine(client: ClientSummary): SafeHtml {
  return html`<p class="redirect">It will receive the result at <code>${client.redirectHost}</code>${client.local ? ' (an app on this computer)' : ''}.</p>`;
}
