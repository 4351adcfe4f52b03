import type { Handler, Middleware } from './ports.js';

/** Wraps `handler` in `middleware`, the first one outermost (it sees the message first). */
export function composeMiddleware(middleware: readonly Middleware[], handler: Handler): Handler {
  return middleware.reduceRight<Handler>((next, wrap) => wrap(next), handler);
}
