import { setTimeout as sleep } from 'node:timers/promises'
import { ApiError } from '@tw/api'
import type { ApiClient, TransactionDto, TransactionStateDto } from '@tw/api'
import { renderPairs, renderTable } from './table'

/** The states a send walks through, in order (`confirmed` only once mined). */
export const TX_FLOW: readonly TransactionStateDto[] = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed']
/** States a transaction never leaves, other than success. */
export const TX_FAILED_STATES: readonly TransactionStateDto[] = ['rejected', 'failed', 'expired']

/** A failure before any answer (connection refused/reset, timeout): the request may or may not have arrived. */
export function isNetworkError(err: unknown): err is ApiError {
  return err instanceof ApiError && err.status === 0 && (err.code === 'UNREACHABLE' || err.code === 'TIMEOUT')
}

/**
 * Records the states of `tx` not in `seen` yet (from its history, which also holds states a
 * poll missed) and shows each new one with `show`.
 */
export function noteStates(tx: TransactionDto, seen: TransactionStateDto[], show: (state: string) => void): void {
  const path = tx.history?.length ? tx.history.map((h) => h.state) : [tx.state]
  if (path[path.length - 1] !== tx.state) path.push(tx.state)
  // History is append-only: what is beyond what we showed is new.
  const fresh = tx.history?.length ? path.slice(Math.min(seen.length, path.length)) : seen[seen.length - 1] === tx.state ? [] : [tx.state]
  for (const s of fresh) {
    if (seen[seen.length - 1] === s) continue
    seen.push(s)
    show(s)
  }
}

export interface FollowOptions {
  /** `broadcast` (default): stop once broadcast or confirmed; `confirmed`: only once confirmed. */
  until?: 'broadcast' | 'confirmed'
  /** Also wait for this many confirmations (0: none). */
  confirmations: number
  /** Epoch ms after which `timeoutError` is thrown. */
  deadline: number
  /** Milliseconds between polls. */
  pollMs: number
  /** Shows a status line (each new state, confirmations, an unreachable node). */
  progress: (status: string) => void
  /** The status shown when a poll fails on the network (the poll is retried). */
  unreachable: string
  /** The error thrown once the deadline passed with the transaction not there yet. */
  timeoutError: (tx: TransactionDto) => Error
}

/** True once `tx` reached what {@link followTransaction} waits for. */
export function transactionReached(tx: TransactionDto, o: Pick<FollowOptions, 'until' | 'confirmations'>): boolean {
  if (tx.state !== 'confirmed' && (o.until === 'confirmed' || tx.state !== 'broadcast')) return false
  return o.confirmations === 0 || tx.confirmations >= o.confirmations
}

/**
 * Polls `GET /api/v1/transactions/:id` from `first` on until the transaction reached
 * `o.until` (with `o.confirmations`) or ended rejected/failed/expired, showing every state
 * once (`seen` holds those shown). Network failures of a poll are retried; the answer is the
 * last transaction seen (check it with {@link TX_FAILED_STATES}).
 */
export async function followTransaction(client: ApiClient, first: TransactionDto, seen: TransactionStateDto[], o: FollowOptions): Promise<TransactionDto> {
  let tx = first
  noteStates(tx, seen, o.progress)
  while (!transactionReached(tx, o) && !TX_FAILED_STATES.includes(tx.state)) {
    if (Date.now() > o.deadline) throw o.timeoutError(tx)
    await sleep(o.pollMs)
    try {
      tx = await client.transaction(tx.id)
    } catch (err) {
      if (!isNetworkError(err)) throw err
      o.progress(o.unreachable)
      continue
    }
    noteStates(tx, seen, o.progress)
    if (o.confirmations > 0 && (tx.state === 'broadcast' || tx.state === 'confirmed')) {
      o.progress(`${tx.state}, ${Math.min(tx.confirmations, o.confirmations)}/${o.confirmations} confirmations`)
    }
  }
  return tx
}

/** The summary of a transaction as `key: value` pairs. */
export function transactionPairs(tx: TransactionDto): [string, string | number | boolean | null][] {
  return [
    ['Transaction', tx.id],
    ['State', tx.state + (tx.error ? ` (${tx.error.code}: ${tx.error.message})` : '')],
    ['Type', `${tx.type} (key ${tx.keyId})`],
    ['To', (tx.recipients?.length ?? 1) > 1 ? `${tx.to} and ${tx.recipients.length - 1} more (see Outputs)` : tx.to],
    ['Amount', `${tx.amountSats} sats`],
    ['Memo', tx.memo ?? null],
    ['External id', tx.externalId ?? null],
    ['Replaces', tx.replacement ? `${tx.replacement.of} (${tx.replacement.kind === 'bump' ? 'fee bump' : 'cancellation'})` : null],
    ['Replaced by', tx.replacedBy ?? null],
    ['Fee', `${tx.feeSats} sats (${tx.feeRate} sat/vB, ${tx.vsize} vB)`],
    ['Txid', tx.txid],
    ['Confirmations', tx.confirmations],
    ['Signers', tx.signers?.length ? tx.signers.join(', ') : null],
    ['Signing mode', tx.signingMode],
    ['Created', tx.createdAt],
    ['Updated', tx.updatedAt],
    ['Request id', tx.requestId],
  ]
}

/** Pairs, then inputs, outputs, votes and the state history. */
export function renderTransaction(tx: TransactionDto): string {
  const parts = [renderPairs(transactionPairs(tx))]
  parts.push(
    'Inputs:\n' +
      (tx.inputs.length
        ? renderTable(tx.inputs, [
            { header: 'OUTPOINT', get: (i) => `${i.txid}:${i.vout}` },
            { header: 'VALUE (sat)', get: (i) => i.valueSats },
            { header: 'PATH', get: (i) => i.path },
          ])
        : '(none)'),
  )
  parts.push(
    'Outputs:\n' +
      (tx.outputs.length
        ? renderTable(tx.outputs, [
            { header: '#', get: (o) => tx.outputs.indexOf(o) },
            { header: 'ADDRESS', get: (o) => o.address },
            { header: 'VALUE (sat)', get: (o) => o.valueSats },
            { header: 'CHANGE', get: (o) => o.change },
          ])
        : '(none)'),
  )
  parts.push(
    'Votes:\n' +
      (tx.votes.length
        ? renderTable(tx.votes, [
            { header: 'NODE', get: (v) => v.nodeId },
            { header: 'VOTE', get: (v) => (v.approve ? 'approve' : 'reject') },
            { header: 'SIGNATURE', get: (v) => (v.signatureValid ? 'valid' : 'INVALID') },
            { header: 'REASON', get: (v) => v.reason },
            { header: 'AT', get: (v) => v.votedAt },
          ])
        : '(none yet)'),
  )
  if (tx.history?.length) parts.push('History:\n' + tx.history.map((h) => `${h.at}  ${h.state}`).join('\n'))
  return parts.join('\n\n')
}
