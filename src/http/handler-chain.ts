import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Express handlers run one after another, as a route runs them, without a router: each calls
 * `next()` to go on, `next(error)` (or throws, or rejects, as Express 5 takes it) to hand an error
 * to `done`; after the last, `done()`. None of the handlers given here use `next('route')`.
 */
export function handlerChain(handlers: readonly RequestHandler[]): RequestHandler {
  return (req: Request, res: Response, done: NextFunction) => {
    let index = 0;
    const next = (error?: unknown) => {
      if (error !== undefined && error !== null) {
        done(error);
        return;
      }
      const handler = handlers[index++];
      if (handler === undefined) {
        done();
        return;
      }
      try {
        const result: unknown = handler(req, res, next);
        if (result instanceof Promise) result.catch((rejected: unknown) => done(rejected ?? new Error('Rejected promise')));
      } catch (thrown) {
        done(thrown);
      }
    };
    next();
  };
}
