export type BitcoinErrorCode =
  'INVALID_ADDRESS' | 'WRONG_NETWORK' | 'INVALID_AMOUNT' | 'DUST_OUTPUT' | 'FEE_RATE_OUT_OF_BOUNDS' | 'FEE_TOO_HIGH' | 'INSUFFICIENT_FUNDS' | 'INVALID_PATH' | 'INVALID_TRANSACTION'

/** Every rejection of caller input by this package: a stable `code`, and `details` for the API layer. */
export class BitcoinError extends Error {
  readonly code: BitcoinErrorCode
  readonly details?: Record<string, unknown>

  constructor(code: BitcoinErrorCode, message: string, details?: Record<string, unknown>) {
    super(message)
    this.name = 'BitcoinError'
    this.code = code
    if (details !== undefined) this.details = details
  }
}
