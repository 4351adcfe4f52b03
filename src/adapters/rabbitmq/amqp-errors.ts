import { ConnectionLostError, TopologyError } from '../../core/index.js';

/** An error the broker raised by closing a channel or connection: it carries the AMQP reply code. */
export interface AmqpServerError extends Error {
  readonly code: number;
  readonly classId?: number;
  readonly methodId?: number;
}

export const AmqpReplyCode = {
  CONNECTION_FORCED: 320,
  ACCESS_REFUSED: 403,
  NOT_FOUND: 404,
  RESOURCE_LOCKED: 405,
  PRECONDITION_FAILED: 406,
} as const;

export function isAmqpServerError(error: unknown): error is AmqpServerError {
  return error instanceof Error && typeof (error as Partial<AmqpServerError>).code === 'number';
}

/** A refused declaration (mismatched arguments, access, a locked exclusive queue) is a topology problem. */
export function toTopologyError(entity: string, error: unknown): TopologyError | ConnectionLostError {
  if (isAmqpServerError(error) && error.code >= 403 && error.code <= 406) {
    return new TopologyError(entity, serverMessage(error), { cause: error });
  }
  return new ConnectionLostError(`Declaring ${entity} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/** `Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg…"` → the quoted part. */
function serverMessage(error: Error): string {
  const quoted = /with message "(.*)"$/s.exec(error.message);
  return quoted?.[1] ?? error.message;
}
