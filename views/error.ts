import { html } from './html.js';
import { layout } from './layout.js';

export function errorPage(title: string, message: string, detail?: string): string {
  return layout(title, html`
    <h1>${title}</h1>
    <p class="error">${message}</p>
    ${detail ? html`<p class="hint">${detail}</p>` : ''}
  `);
}
