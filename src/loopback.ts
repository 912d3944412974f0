/**
 * "This machine" as URLs spell it. Loopback addresses get special rules throughout: plain http is
 * allowed, a redirect may use any port (RFC 8252 §7.3), and a server on them guards against DNS
 * rebinding. `localhost` and `127.0.0.1` are still different URLs to OAuth clients.
 */
export const LOOPBACK_HOSTNAMES: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

export function isLoopbackHostname(hostname: string): boolean {
  return LOOPBACK_HOSTNAMES.has(hostname);
}

/** An http(s) URL on this machine (any port). */
export function isLoopbackUrl(url: URL | null | undefined): boolean {
  return !!url && (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHostname(url.hostname);
}
