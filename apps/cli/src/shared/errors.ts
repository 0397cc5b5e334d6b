import { ApiError } from '@tw/api'
import { Errors } from '@oclif/core'
import { Messages } from './messages'

const messages = Messages.load('errors')

/** Exit codes: 1 for failures, 2 for usage errors (bad flags), as oclif does. */
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
/**
 * 3: the node accepted the request but it had not finished when the command stopped waiting
 * (TX_TIMEOUT, KEY_TIMEOUT). It may still complete: check it, never repeat it under a new key.
 */
export const EXIT_PENDING = 3

/**
 * A user-facing failure: a stable `code` (SCREAMING_SNAKE), a one-line message and the
 * process exit code. Everything a command throws is turned into one of these before it is
 * printed, so the user always sees exactly one line.
 */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

/** Collapses a multi-line message into one line. */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^See more help with --help$/.test(l) && !/^The following errors? occurred:$/.test(l))
    .join('; ')
}

/** Maps anything thrown (API errors, oclif parse errors, engine errors, bugs) to a {@link CliError}. */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) {
    // oclif prefixes errors thrown while parsing a flag with "Parsing --flag".
    const message = oneLine(err.message.replace(/^Parsing --\S+\s*\n/, ''))
    return message === err.message ? err : new CliError(err.code, message, err.exitCode, err.details)
  }
  if (err instanceof ApiError) {
    if (err.code === 'UNREACHABLE') return new CliError('NODE_UNREACHABLE', messages.get('NodeUnreachable', [err.message]))
    if (err.code === 'TIMEOUT') return new CliError('NODE_TIMEOUT', messages.get('NodeTimeout', [err.message]))
    if (err.code === 'UNAUTHORIZED') return new CliError('UNAUTHORIZED', messages.get('Unauthorized', [oneLine(err.message)]))
    if (err.code === 'FORBIDDEN') return new CliError('FORBIDDEN', messages.get('Forbidden', [oneLine(err.message)]))
    return new CliError(err.code, oneLine(err.message) + (err.status ? ` (HTTP ${err.status})` : ''), EXIT_FAILURE, err.details)
  }
  if (err instanceof Error && /^Parsing --\S+/.test(err.message)) {
    // A flag's own parser rejected the value (e.g. an integer out of range).
    return new CliError('INVALID_FLAGS', oneLine(err.message.replace(/^Parsing (--\S+)\s*\n\s*/, '$1: ')), EXIT_USAGE)
  }
  if (err instanceof Errors.CLIError && 'parse' in err) {
    return new CliError('INVALID_FLAGS', oneLine(err.message), EXIT_USAGE)
  }
  const e = err as { code?: unknown; message?: unknown } | undefined
  if (e && typeof e.code === 'string' && /^[A-Z][A-Z_]+$/.test(e.code) && typeof e.message === 'string') {
    // Engine errors (`@tw/native`) and other coded errors keep their code.
    return new CliError(e.code, oneLine(e.message))
  }
  const message = err instanceof Error ? err.message : String(err)
  return new CliError('INTERNAL', messages.get('Internal', [oneLine(message) || 'unknown error']))
}
