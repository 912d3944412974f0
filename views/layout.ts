import { html, type SafeHtml } from './html.js';

export const SERVICE_NAME = 'UUID MCP Server';

export function layout(title: string, body: SafeHtml): string {
  return html`<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>${title} · ${SERVICE_NAME}</title>
  <link rel="stylesheet" href="/static/style.css">
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
  <main class="card">
    <p class="service">${SERVICE_NAME}</p>
    ${body}
  </main>
</body>
</html>
`.value;
}
