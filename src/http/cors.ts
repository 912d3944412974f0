import type { RequestHandler } from 'express';

export interface CorsPolicy {
  methods: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
}

/**
 * CORS for endpoints browser-based clients call (metadata, registration, /mcp). No cookies are
 * involved (bearer tokens travel in a header), so any origin may read; which origins may *act* on
 * /mcp is the origin check's job. A preflight is answered here, before any authentication.
 */
export function cors(policy: CorsPolicy): RequestHandler {
  const methods = [...policy.methods, 'OPTIONS'].join(', ');
  const expose = policy.exposeHeaders?.join(', ');
  const allow = policy.allowHeaders?.join(', ');
  return (req, res, next) => {
    if (!req.headers.origin) {
      next();
      return;
    }
    res.vary('Origin');
    res.set('Access-Control-Allow-Origin', '*');
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
      res.set({
        'Access-Control-Allow-Methods': methods,
        'Access-Control-Allow-Headers': allow ?? String(req.headers['access-control-request-headers'] ?? ''),
        'Access-Control-Max-Age': '600',
      });
      res.status(204).end();
      return;
    }
    if (expose) res.set('Access-Control-Expose-Headers', expose);
    next();
  };
}
