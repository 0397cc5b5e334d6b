import type { DepositDto, EventFilter, EventType, TransactionEventData, TransactionStateDto, WalletEventDto } from '@tw/api'
import { paymentsOf } from '../wallet/policy'
import type { TxRecord } from '../wallet/wallet.types'

/**
 * The event log and webhooks in etcd:
 * - `/tw/events/<eventId>`: one event (written once by the leader, fenced; pruned after
 *   {@link EVENT_RETENTION_MS}); its create revision is its `seq`;
 * - `/tw/webhooks/<id>`: a subscription (any node writes it for an admin's API call);
 * - `/tw/webhook-state/<id>`: how far its deliveries are (the leader writes it, fenced).
 */
export const EventKeys = {
  events: '/tw/events/',
  event: (id: string) => `/tw/events/${id}`,
  webhooks: '/tw/webhooks/',
  webhook: (id: string) => `/tw/webhooks/${id}`,
  webhookStates: '/tw/webhook-state/',
  webhookState: (id: string) => `/tw/webhook-state/${id}`,
} as const

/** Events stay in the log (for stream replays and late webhook deliveries) this long. */
export const EVENT_RETENTION_MS = 3 * 24 * 3600_000
/** Nothing older than this becomes an event (so a pruned event is never written again). */
export const EVENT_HORIZON_MS = 2 * 24 * 3600_000

/**
 * An event as stored in etcd: everything but `seq` (the key's create revision), signed by the
 * node that wrote it (the leader of the moment) over {@link eventBody}.
 */
export type StoredEvent = Omit<WalletEventDto, 'seq'> & { signedBy: number; signature: string }

/** What the writer of an event signs: the event as announced and who signs it. */
/** An event before its writer signs it. */
export type UnsignedEvent = Omit<StoredEvent, 'signedBy' | 'signature'>

export function eventBody(e: Pick<WalletEventDto, 'id' | 'type' | 'at' | 'data'>, signedBy: number) {
  return { id: e.id, type: e.type, at: e.at, data: e.data, signedBy }
}

/** `/tw/webhooks/<id>`. The secret signs deliveries; it is readable by every node (see docs/SECURITY.md). */
export interface WebhookRecord {
  id: string
  url: string
  events: EventFilter[]
  description: string | null
  secret: string
  createdAt: string
  createdBy: string
}

/** `/tw/webhook-state/<id>`: the last event done (delivered or given up) and the one waiting for a retry. */
export interface WebhookState {
  lastSeq: number | null
  retrying: { eventId: string; seq: number; attempts: number; nextAttemptAt: string } | null
}

/** The event id of entry `n` of a transaction's history. */
export const transactionEventId = (txId: string, n: number) => `tx.${txId}.${n}`
/** The event id of a deposit's `stage`. */
export const depositEventId = (d: Pick<DepositDto, 'txid' | 'vout'>, stage: 'pending' | 'confirmed') => `deposit.${d.txid}.${d.vout}.${stage}`

/** What a `transaction.<state>` event says about `record` (its fields as they are now; the error only with the state it ended in). */
export function transactionEventData(record: TxRecord, state: TransactionStateDto): TransactionEventData {
  return {
    transactionId: record.id,
    state,
    type: record.type,
    keyId: record.keyId,
    txid: record.txid,
    amountSats: record.amountSats,
    feeSats: record.feeSats,
    feeRate: record.feeRate,
    recipients: paymentsOf(record),
    memo: record.memo ?? null,
    externalId: record.externalId ?? null,
    replacement: record.replacement ?? null,
    replacedBy: record.replacedBy ?? null,
    error: state === record.state ? record.error : null,
  }
}

/**
 * The events `record`'s history calls for that are not in `known` yet: one per history entry
 * (`transaction.<state>`, at the entry's time), none older than `now - EVENT_HORIZON_MS`.
 */
export function transactionEvents(record: TxRecord, known: (id: string) => boolean, now = Date.now()): UnsignedEvent[] {
  const out: UnsignedEvent[] = []
  record.history.forEach((h, n) => {
    const id = transactionEventId(record.id, n)
    if (known(id) || now - Date.parse(h.at) > EVENT_HORIZON_MS) return
    out.push({ id, type: `transaction.${h.state}` as EventType, at: h.at, data: transactionEventData(record, h.state) })
  })
  return out
}

/**
 * The events deposit `d` calls for that are not in `known` yet: `deposit.pending` while it is
 * unconfirmed, `deposit.confirmed` once in a block (alone, when first seen confirmed). A
 * deposit whose block is older than the horizon calls for none.
 */
export function depositEvents(d: DepositDto, known: (id: string) => boolean, now = Date.now()): UnsignedEvent[] {
  if (d.blockTime !== null && now - Date.parse(d.blockTime) > EVENT_HORIZON_MS) return []
  const stage = d.confirmations > 0 ? 'confirmed' : 'pending'
  const id = depositEventId(d, stage)
  if (known(id)) return []
  return [{ id, type: `deposit.${stage}`, at: new Date(now).toISOString(), data: d }]
}

/** Exponential backoff of webhook retries: `base`, 2×, 4×… after each failed attempt, at most an hour. */
export function retryDelayMs(failedAttempts: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, failedAttempts - 1), 3600_000)
}
