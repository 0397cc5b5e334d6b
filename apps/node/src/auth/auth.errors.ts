import { DomainError } from '../common/errors'

/** Missing, malformed, unknown or revoked token: one message for all, nothing to learn from. */
export class UnauthorizedError extends DomainError {
  readonly code = 'UNAUTHORIZED'
  readonly httpStatus = 401
  override readonly logLevel = 'debug'
}

/** A valid token whose role does not allow the route. */
export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN'
  readonly httpStatus = 403
  override readonly logLevel = 'debug'
}

/** More requests from one token than `TW_RATE_LIMIT_PER_MIN`. */
export class RateLimitedError extends DomainError {
  readonly code = 'RATE_LIMITED'
  readonly httpStatus = 429
  override readonly logLevel = 'debug'
}

export const MISSING_TOKEN_MESSAGE = 'authentication required: send Authorization: Bearer <token>'
export const INVALID_TOKEN_MESSAGE = 'invalid or revoked token'
