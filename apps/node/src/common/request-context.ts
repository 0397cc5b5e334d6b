import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'

/**
 * The request id of the work in progress: set for each API request (its `X-Request-Id`, or a
 * fresh UUID), kept in a transaction's record (`requestId`), and set again while any node
 * works on that transaction — so every log line of a send's life, on every node, carries the
 * id of the request that made it.
 */
const store = new AsyncLocalStorage<{ requestId: string }>()

/** The request id of the work in progress, if any. */
export function currentRequestId(): string | null {
  return store.getStore()?.requestId ?? null
}

/** Runs `fn` with `requestId` as the current request id (none: `fn` runs as it is). */
export function withRequestId<T>(requestId: string | null | undefined, fn: () => T): T {
  return requestId ? store.run({ requestId }, fn) : fn()
}

/** A client's `X-Request-Id` if it is a sane one (1-128 printable ASCII, no spaces), else a fresh UUID. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header
  return given && /^[\x21-\x7e]{1,128}$/.test(given) ? given : randomUUID()
}
