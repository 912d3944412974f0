import type { Response } from 'express';

/**
 * Headers for every HTML page people see (login, consent, errors): no framing (clickjacking), no
 * referrer (codes and state never leak to other sites), no caching, and a CSP allowing only our
 * own stylesheet and icon. Forms may post to us and, through our redirects, reach the client's
 * redirect URI, whose origin (or custom scheme) is passed in.
 */
export function pageHeaders(redirectSources: string[] = []): Record<string, string> {
  const formAction = ["'self'", ...redirectSources].join(' ');
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': `default-src 'none'; style-src 'self'; img-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  };
}

export function setPageHeaders(res: Response, redirectSources: string[] = []): void {
  res.set(pageHeaders(redirectSources));
}

/**
 * The CSP source for where a redirect URI sends the browser: its origin, or for a native app's
 * private-use scheme (com.example.app:/cb) the scheme itself.
 */
export function redirectSource(uri: unknown): string[] {
  const url = typeof uri === 'string' ? URL.parse(uri) : null;
  if (!url) return [];
  if (url.protocol === 'http:' || url.protocol === 'https:') return [url.origin];
  return /^[a-z][a-z0-9+.-]*:$/i.test(url.protocol) ? [url.protocol] : [];
}
