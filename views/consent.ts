import type { ConsentField, DocumentChange } from '../src/authorization/consent.js';
import { clientName, provenanceLine, redirectLine, type ClientSummary } from './client.js';
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
  /** The user approved all of it before: only confirm that this sign-in is theirs. */
  alreadyAllowed: boolean;
  /** What the client's metadata document changed since the user approved it (then asked again). */
  changedSinceApproval: DocumentChange[];
  /** What it changed since this page was last shown, when the user's approval came for the old version. */
  changedWhileShown: ConsentField[];
  /** Which version of the document this page shows (consent.ts shownVersion), sent back with "Allow". */
  documentVersion: string;
}

const CHANGED_FIELDS: Record<ConsentField, string> = {
  client_name: 'its name',
  redirect_uris: 'where it receives the result',
  application_type: 'its application type',
  grant_types: 'whether it may stay connected',
};

const FIELD_LABELS: Record<ConsentField, string> = {
  client_name: 'Name',
  redirect_uris: 'Where it receives the result',
  application_type: 'Application type',
  grant_types: 'Grant types',
};

function shown(value: unknown): string {
  if (value === null || value === undefined) return 'none';
  if (Array.isArray(value)) return value.length > 0 ? value.map(String).join(', ') : 'none';
  return String(value);
}

/** A change as the page lists it: the field, then what was added and removed (lists) or what it was and is. */
function changeLine({ field, approved, now }: DocumentChange): string {
  if (Array.isArray(approved) && Array.isArray(now)) {
    const added = now.filter((value: unknown) => !approved.includes(value));
    const removed = approved.filter((value: unknown) => !now.includes(value));
    const parts = [added.length > 0 ? `added ${shown(added)}` : '', removed.length > 0 ? `removed ${shown(removed)}` : ''].filter(Boolean);
    if (parts.length > 0) return `${FIELD_LABELS[field]}: ${parts.join('; ')}`;
  }
  return `${FIELD_LABELS[field]}: was ${shown(approved)}, now ${shown(now)}`;
}

/** "a", "a and b", "a, b and c". */
function listed(words: string[]): string {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

export function consentPage(view: ConsentView): string {
  const title = view.alreadyAllowed ? 'Continue?' : 'Allow access?';
  return layout(title, html`
    <h1>${title}</h1>
    ${view.changedSinceApproval.length > 0
      ? html`<p class="error" role="alert">This application's metadata document has changed since you allowed it: ${listed(view.changedSinceApproval.map((change) => CHANGED_FIELDS[change.field]))}.</p>
        <ul class="changes">${view.changedSinceApproval.map((change) => html`<li>${changeLine(change)}</li>`)}</ul>`
      : ''}
    ${view.changedWhileShown.length > 0
      ? html`<p class="error" role="alert">This application's metadata document changed while this page was open: ${listed(view.changedWhileShown.map((field) => CHANGED_FIELDS[field]))}. Check it again before you allow it.</p>`
      : ''}
    <p class="client">${clientName(view.client)}
    ${view.alreadyAllowed
      ? html`<br>You allowed this application before. It will again act as <strong class="user">${view.userName}</strong> on this server and be able to:</p>`
      : html`wants to act as <strong class="user">${view.userName}</strong> on this server. It asks to:</p>`}
    <ul class="permissions">
      ${view.permissions.map((permission) => html`<li>${permission}</li>`)}
    </ul>
    ${provenanceLine(view.client)}
    ${redirectLine(view.client)}
    <p class="hint">Only ${view.alreadyAllowed ? 'continue' : 'allow this'} if you started this sign-in from that application just now.</p>
    <div class="actions">
      <form method="post" action="/interaction/${view.uid}/confirm">
        <input type="hidden" name="csrf" value="${view.csrf}">
        <input type="hidden" name="document" value="${view.documentVersion}">
        <button type="submit" class="primary">${view.alreadyAllowed ? 'Continue' : 'Allow'}</button>
      </form>
      <form method="post" action="/interaction/${view.uid}/abort">
        <input type="hidden" name="csrf" value="${view.csrf}">
        <button type="submit">Deny</button>
      </form>
    </div>
    <form method="post" action="/interaction/${view.uid}/switch">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <button type="submit" class="link">Not ${view.userName}? Use another account</button>
    </form>
  `);
}
