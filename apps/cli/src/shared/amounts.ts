import { CliError, EXIT_USAGE } from './errors'

/** 21 million BTC in satoshis: no amount can be larger. */
export const MAX_SATS = 21_000_000 * 100_000_000

/**
 * A satoshi amount as typed by the user: a positive whole number (digits only, optional `_`
 * or `,` separators are not accepted to keep it unambiguous). Throws `INVALID_AMOUNT` (usage).
 */
export function parseAmountSats(input: string, flag = '--amount'): number {
  const text = input.trim()
  if (!/^\d+$/.test(text)) {
    throw new CliError('INVALID_AMOUNT', `${flag} must be a positive whole number of satoshis, got "${input}"`, EXIT_USAGE)
  }
  const n = Number(text)
  if (n <= 0) throw new CliError('INVALID_AMOUNT', `${flag} must be at least 1 satoshi, got "${input}"`, EXIT_USAGE)
  if (n > MAX_SATS) throw new CliError('INVALID_AMOUNT', `${flag} ${input} exceeds 21 million BTC (${MAX_SATS} sats)`, EXIT_USAGE)
  return n
}

/** A fee rate in sat/vB: a finite number greater than 0 (decimals allowed). Throws `INVALID_FEE_RATE` (usage). */
export function parseFeeRate(input: string, flag = '--fee-rate'): number {
  const text = input.trim()
  const n = /^\d+(\.\d+)?$|^\.\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isFinite(n) || n <= 0) {
    throw new CliError('INVALID_FEE_RATE', `${flag} must be a number of sat/vB greater than 0, got "${input}"`, EXIT_USAGE)
  }
  return n
}

/** `123456 sats (0.00123456 BTC)`. */
export function formatSats(sats: number | null | undefined): string {
  if (sats === null || sats === undefined) return '-'
  return `${sats} sats (${formatBtc(sats)} BTC)`
}

/** Satoshis as a BTC decimal with 8 places, exact (no floating point). */
export function formatBtc(sats: number): string {
  const neg = sats < 0
  const s = String(Math.abs(Math.trunc(sats))).padStart(9, '0')
  return `${neg ? '-' : ''}${s.slice(0, -8)}.${s.slice(-8)}`
}
