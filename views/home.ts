import { html } from './html.js';
import { layout, SERVICE_NAME } from './layout.js';

/** The page at `/`: what this is and how to connect, for a person who opens the URL in a browser. */
export function homePage(mcpUrl: string): string {
  const settings = JSON.stringify({ mcpServers: { uuid: { httpUrl: mcpUrl } } }, null, 2);
  return layout(SERVICE_NAME, html`
    <h1>${SERVICE_NAME}</h1>
    <p>An MCP server that generates UUIDs, protected by OAuth 2.1. Point your MCP client at:</p>
    <p><code class="endpoint">${mcpUrl}</code></p>
    <p>For Gemini CLI, add this to <code>~/.gemini/settings.json</code>, then run <code>/mcp auth uuid</code>:</p>
    <pre>${settings}</pre>
  `);
}
