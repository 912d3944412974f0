import type { Response } from 'express';

/**
 * Headers for every HTML page people see (login, consent, errors): no framing (clickjacking), no
 * referrer (codes and state never leak to other sites), no caching, and a CSP allowing only our
 * own stylesheet. Forms may post to us and, through our redirects, reach the client's redirect URI.
 */
export function setPageHeaders(res: Response, redirectOrigins: string[] = []): void {
  const formAction = ["'self'", ...redirectOrigins].join(' ');
  res.set({
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': `default-src 'none'; style-src 'self'; img-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  });
}

/** The origin a redirect URI sends the browser to, for the page's form-action. */
export function originOf(uri: unknown): string[] {
  const origin = typeof uri === 'string' ? URL.parse(uri)?.origin : undefined;
  return origin && origin !== 'null' ? [origin] : [];
}
