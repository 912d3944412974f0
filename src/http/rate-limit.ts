import { rateLimit } from 'express-rate-limit';
import type { Request, Response } from 'express';

/**
 * A per-client-address limit. The answer is made by `reject`, so each area answers in its own
 * format (OAuth JSON for endpoints, a page for forms). The counters live in this process's memory.
 */
export function perAddressLimit(options: {
  windowMs: number;
  limit: number;
  reject: (req: Request, res: Response, retryAfterSeconds: number) => void;
  /**
   * Count only the requests whose answer this accepts (default: every request). Each request is
   * counted when it arrives and taken back once its answer is known not to count, so requests sent
   * at once cannot slip past the limit together; refused ones (429) never count.
   */
  counts?: (req: Request, res: Response) => boolean;
}) {
  return rateLimit({
    windowMs: options.windowMs,
    limit: options.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    ...(options.counts ? { skipSuccessfulRequests: true, requestWasSuccessful: (req: Request, res: Response) => !options.counts!(req, res) } : {}),
    handler: (req, res) => {
      const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const retryAfter = Math.max(1, Math.ceil(((reset?.getTime() ?? Date.now() + options.windowMs) - Date.now()) / 1000));
      res.set('Retry-After', String(retryAfter));
      options.reject(req, res, retryAfter);
    },
  });
}
