import type { ErrorCode, WalletErrorCode } from '@tw/api'

export type ErrorLogLevel = 'error' | 'warn' | 'debug'

/**
 * A domain error: a stable {@link ErrorCode}, the HTTP status it maps to and how loudly to
 * log it. Services throw these; `api/exception.filter.ts` is the one place that turns them
 * into `{ error: { code, message, details } }`.
 */
export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode | WalletErrorCode
  abstract readonly httpStatus: number
  readonly logLevel: ErrorLogLevel = 'warn'
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = new.target.name
  }
}

export class ValidationFailedError extends DomainError {
  readonly code = 'VALIDATION_FAILED'
  readonly httpStatus = 400
  override readonly logLevel = 'debug'
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND'
  readonly httpStatus = 404
  override readonly logLevel = 'debug'
}

/** A dependency (PostgreSQL, etcd, the engine) is down; the request may succeed later. */
export class DependencyUnavailableError extends DomainError {
  readonly code = 'DEPENDENCY_UNAVAILABLE'
  readonly httpStatus = 503
}

/** The cluster cannot act (no leader, not enough nodes). */
export class ClusterUnavailableError extends DomainError {
  readonly code = 'CLUSTER_UNAVAILABLE'
  readonly httpStatus = 503
}

export class NotLeaderError extends DomainError {
  readonly code = 'NOT_LEADER'
  readonly httpStatus = 409
}

export class DkgFailedError extends DomainError {
  readonly code = 'DKG_FAILED'
  readonly httpStatus = 502
  override readonly logLevel = 'error'
}

export class InternalError extends DomainError {
  readonly code = 'INTERNAL'
  readonly httpStatus = 500
  override readonly logLevel = 'error'
}

/** A wallet request that cannot be done as asked (bad address, amount, fee, funds). */
export class WalletRequestError extends DomainError {
  override readonly logLevel = 'debug'
  constructor(
    readonly code: WalletErrorCode,
    readonly httpStatus: number,
    message: string,
    details?: unknown,
  ) {
    super(message, details)
  }
}

export class ConflictError extends DomainError {
  readonly code = 'CONFLICT'
  readonly httpStatus = 409
}
