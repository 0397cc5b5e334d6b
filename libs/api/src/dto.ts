/** DTOs and error codes of the REST contract (`/api/v1`, `/health`, `/metrics`). */

/** Stable error codes in `{ error: { code, message, details } }`. */
export const ErrorCodes = [
  'BAD_REQUEST',
  'VALIDATION_FAILED',
  'NOT_FOUND',
  'CONFLICT',
  'NOT_LEADER',
  'CLUSTER_UNAVAILABLE',
  'DEPENDENCY_UNAVAILABLE',
  'KEY_EXISTS',
  'DKG_FAILED',
  'TIMEOUT',
  'PEER_MISBEHAVED',
  'INTERNAL',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'PAYLOAD_TOO_LARGE',
  'DRILL_DISABLED',
] as const
export type ErrorCode = (typeof ErrorCodes)[number]

/** The one error shape every non-2xx response has. */
export interface ErrorBody {
  error: { code: ErrorCode | string; message: string; details?: unknown }
}

export type KeyProtocol = 'ecdsa' | 'schnorr'
export type KeyStatus = 'pending' | 'active' | 'failed'

/** `POST /api/v1/keys` body. */
export interface CreateKeyRequest {
  protocol: KeyProtocol
}

/** One key as `GET /api/v1/keys` and `POST /api/v1/keys` return it. */
export interface KeyDto {
  id: string
  protocol: KeyProtocol
  status: KeyStatus
  /** Hex, 33-byte compressed master public key (the xpub's key); null until active. */
  publicKey: string | null
  /** Hex, 32-byte BIP32 chain code; null until active. */
  chainCode: string | null
  /** Schnorr only: hex x-only BIP86 output key of the master key. */
  outputKey?: string | null
  /** Node ids that reported the public key so far. */
  reportedBy: number[]
  createdAt: string
  error?: string | null
}

export interface KeyListDto {
  keys: KeyDto[]
}

/**
 * Where a key's share refresh stands: `voting` (every node judges the job; the key still signs)
 * → `running` → `committing` → `done`; `rejected` (a node voted against it, nothing ran) or
 * `failed` (the key kept its shares).
 */
export type KeyRefreshState = 'voting' | 'running' | 'committing' | 'done' | 'rejected' | 'failed'

/** A proactive share refresh of one key, as `POST/GET /api/v1/keys/{id}/refresh` return it. */
export interface KeyRefreshDto {
  jobId: string
  keyId: string
  protocol: KeyProtocol
  state: KeyRefreshState
  /** Nodes whose signed approval is in (all of them from `running` on). */
  approvedBy: number[]
  /** Nodes whose signed success is in (all of them from `committing` on). */
  reportedBy: number[]
  /** Nodes whose refreshed share is live. */
  committedBy: number[]
  requestedAt: string
  /** Why it was rejected (the node and its reason) or failed (the key kept its shares); null otherwise. */
  error: string | null
}

export interface NodeStatusDto {
  nodeId: number
  /** Heartbeat lease alive in etcd. */
  up: boolean
  apiUrl: string | null
  quicAddr: string | null
  lastSeen: string | null
  banned: boolean
  /**
   * The node reports safe primes ready for an aux info session (`/tw/primes/<id>`); the leader
   * starts aux info only when every node is up and ready. Optional for older nodes.
   */
  primesReady?: boolean
}

/** `GET /api/v1/cluster/status`. */
export interface ClusterStatusDto {
  /** The node that answered. */
  nodeId: number
  clusterSize: number
  threshold: number
  leader: number | null
  /** Fencing token of the current leadership term (etcd revision of the election key). */
  leaderTerm: string | null
  nodes: NodeStatusDto[]
  nodesUp: number
  etcd: { endpoints: string[]; members: { id: string; name: string; clientUrls: string[] }[]; healthy: boolean }
  database: { healthy: boolean }
  bannedNodes: number[]
}

/** terminus-style `GET /health`, `/health/live`, `/health/ready`. */
export interface HealthDto {
  status: 'ok' | 'error' | 'shutting_down'
  info?: Record<string, { status: string; [k: string]: unknown }>
  error?: Record<string, { status: string; [k: string]: unknown }>
  details?: Record<string, { status: string; [k: string]: unknown }>
}

/** `GET /api/v1/audit/verify`: the audit log's hash chain recomputed. */
export interface AuditVerifyDto {
  ok: boolean
  /** Rows verified before the first broken one (all rows when ok). */
  checked: number
  /** id of the first row whose link or hash does not verify; null when ok. */
  firstBrokenId: string | null
  reason: string | null
}

// ------------------------------------------------------------------ wallet

/** Error codes of the wallet and send flow (in addition to {@link ErrorCodes}). */
export const WalletErrorCodes = [
  'INVALID_ADDRESS',
  'WRONG_NETWORK',
  'INVALID_AMOUNT',
  'DUST_OUTPUT',
  'FEE_RATE_OUT_OF_BOUNDS',
  'FEE_TOO_HIGH',
  'INSUFFICIENT_FUNDS',
  'NO_ACTIVE_KEY',
  'IDEMPOTENCY_KEY_REUSED',
  /** A batch names the same address twice (pay it once with the sum). */
  'DUPLICATE_RECIPIENT',
  'CHAIN_UNAVAILABLE',
  'POLICY_VIOLATION',
  'KEY_RECORD_MISMATCH',
  /** A transaction record's error: the chain refused the signed transaction as invalid (its coins stay reserved). */
  'CHAIN_REJECTED',
  /** A transaction record's error: another transaction spent one of its inputs (its coins are released). */
  'INPUTS_SPENT_ELSEWHERE',
  /** A transaction record's error: the chain took its replacement (fee bump or cancellation) instead; `replacedBy` names it. */
  'REPLACED',
  /** A replacement's error: the chain kept the transaction it was to replace (which confirmed, or which the chain would not evict). */
  'REPLACEMENT_REFUSED',
  /** `POST /wallet/address`: the last TW_ADDRESS_GAP_LIMIT receive addresses handed out are all unused (BIP44 gap limit). */
  'GAP_LIMIT_REACHED',
  /** Coin control: a named input is not a confirmed coin of the wallet type, or another send holds it. */
  'COIN_NOT_SPENDABLE',
  /** `tx bump` / `tx cancel` refused: the transaction is not broadcast and unconfirmed, or a bump has no change to pay the higher fee from. */
  'TX_NOT_REPLACEABLE',
  /** `tx abandon` refused: the transaction is not failed, or no coin reservation names it any more (already released). */
  'TX_NOT_ABANDONABLE',
  /** `tx abandon` refused: the chain has the signed transaction (mempool or block) or one of its inputs is spent by it. */
  'TX_ON_CHAIN',
] as const
export type WalletErrorCode = (typeof WalletErrorCodes)[number]

/** `segwit` = P2WPKH from the ECDSA key; `taproot` = P2TR key path (BIP86) from the Schnorr key. */
export type WalletType = 'segwit' | 'taproot'
export type BitcoinNetwork = 'mainnet' | 'testnet' | 'testnet4' | 'signet' | 'regtest'

/** `POST /api/v1/wallet/address {type?, change?, label?}`: a fresh address, never handed out before (operator role: it uses up an index). */
export interface AddressRequest {
  type?: WalletType
  change?: boolean
  /** Kept with the address (1..100 characters), e.g. a customer or invoice reference. */
  label?: string
}

/** A fresh address, never handed out before. */
export interface AddressDto {
  address: string
  type: WalletType
  keyId: string
  /** BIP32 path below the key, e.g. "m/0/7". */
  path: string
  index: number
  change: boolean
  network: BitcoinNetwork
  /** The label given when it was handed out; null without one. */
  label: string | null
}

/** One address handed out, with what the chain says of it (`GET /api/v1/wallet/addresses`). */
export interface AddressInfoDto extends AddressDto {
  /** The chain has a payment to it (confirmed or in the mempool). */
  used: boolean
  txCount: number
  /** Satoshis ever paid to it (confirmed and mempool). */
  receivedSats: number
}

/** `GET /api/v1/wallet/addresses?type=&change=&used=&limit=`: addresses handed out, newest first. */
export interface AddressListDto {
  network: BitcoinNetwork
  addresses: AddressInfoDto[]
  /** Addresses handed out on the listed chain(s), before the filter and the limit. */
  issued: number
}

/** `GET /api/v1/wallet/addresses` query. */
export interface AddressListQuery {
  type?: WalletType
  /** true: change addresses (m/1/i); default: receive addresses (m/0/i). */
  change?: boolean
  /** true: only addresses the chain has a payment to; false: only unused ones. */
  used?: boolean
  /** 1..1000 (default 100). */
  limit?: number
}

/** `GET /api/v1/wallet/balance`. Amounts in satoshis (as numbers; < 2^53). */
export interface BalanceDto {
  network: BitcoinNetwork
  tipHeight: number
  /** Per wallet type; a type without an active key is absent. */
  wallets: {
    type: WalletType
    keyId: string
    confirmedSats: number
    unconfirmedSats: number
    /** Reserved by sends in flight (not yet broadcast). */
    reservedSats: number
    utxos: number
  }[]
  confirmedSats: number
  unconfirmedSats: number
}

/** `GET /api/v1/wallet/descriptors`: output descriptors a watch-only wallet imports. */
export interface DescriptorsDto {
  network: BitcoinNetwork
  descriptors: { type: WalletType; keyId: string; receive: string; change: string }[]
}

/** `POST /api/v1/transactions` body (header `Idempotency-Key` recommended). */
/** One payment of a batch send (`SendRequest.recipients`). */
export interface RecipientRequest {
  to: string
  amountSats: number
}

/** Most payments one send may make (`recipients`). */
export const MAX_RECIPIENTS = 200

/** Most coins one send spends ("max", a consolidation, or `inputs`): about 68 000 vB of SegWit inputs, under the 100 000 vB standard limit. */
export const MAX_SWEEP_INPUTS = 1000

/**
 * `POST /api/v1/transactions` (and `/quote`) body. One payment (`to` + `amountSats`) or a batch
 * (`recipients`, 1..{@link MAX_RECIPIENTS}, each address once), never both.
 */
export interface SendRequest {
  to?: string
  /** Satoshis, or `"max"`: every spendable coin of the wallet type, no change, the fee out of the payment (one recipient only). */
  amountSats?: number | 'max'
  /** A batch payout: one output per recipient, in this order, then the change. */
  recipients?: RecipientRequest[]
  /** The fee comes out of the payments (split evenly over the recipients, the first ones paying any remainder) instead of on top. */
  subtractFeeFromAmount?: boolean
  /** A note kept with the record (1-500 characters), shown in history; every node votes on it with the rest of the proposal. */
  memo?: string
  /** The caller's own reference (an invoice or payout id; 1-200 printable characters), kept with the record. */
  externalId?: string
  /** Coin control: spend exactly these coins (confirmed coins of the wallet type no send holds), change as needed. */
  inputs?: { txid: string; vout: number }[]
  /** A consolidation: no payment; the coins (`inputs`, or every spendable one, smallest first, up to 1 000) to one change output of the wallet. Not with to, amountSats or recipients. */
  consolidate?: boolean
  /** sat/vB; default: the chain's estimate for `targetBlocks` (within the policy's bounds). */
  feeRate?: number
  type?: WalletType
  /** Confirmation target in blocks (1..1008) for the chain's fee estimate; default 6. Not with `feeRate`. */
  targetBlocks?: number
  /** The most sat/vB this send may pay: a higher estimate (or feeRate) is refused with FEE_TOO_HIGH, nothing reserved. */
  maxFeeRate?: number
}

export type TransactionStateDto = 'pending' | 'voting' | 'approved' | 'signing' | 'signed' | 'broadcast' | 'confirmed' | 'rejected' | 'failed' | 'expired'

export interface VoteDto {
  nodeId: number
  approve: boolean
  reason: string | null
  /** The vote's signature (hex, node identity key) verified by the answering node. */
  signatureValid: boolean
  votedAt: string
}

/** One payment of a send, as it is made (after any fee taken out of it). */
export interface RecipientDto {
  address: string
  amountSats: number
}

/** One spend, as `POST/GET /api/v1/transactions[/:id]` return it. */
export interface TransactionDto {
  id: string
  /** The `X-Request-Id` of the request that made it (or the one the node gave it); null for older records. Every node's log lines about it carry it. */
  requestId: string | null
  state: TransactionStateDto
  type: WalletType
  keyId: string
  /** The first (or only) recipient. */
  to: string
  /** What the payments add up to (the fee not included). */
  amountSats: number
  /** Every payment, in output order (one for a plain send). */
  recipients: RecipientDto[]
  memo: string | null
  externalId: string | null
  /** A fee bump or cancellation (BIP125 replacement): the transaction it replaces. */
  replacement: { of: string; kind: 'bump' | 'cancel' } | null
  /** On a transaction that ended failed REPLACED: the replacement the chain took instead. */
  replacedBy: string | null
  /** A consolidation: no payment, the coins to one change output of the wallet. */
  consolidation: boolean
  feeSats: number
  feeRate: number
  vsize: number
  inputs: { txid: string; vout: number; valueSats: number; path: string }[]
  outputs: { address: string | null; valueSats: number; change: boolean }[]
  txid: string | null
  /** Signed raw transaction (hex) once signed. */
  hex: string | null
  /** Unsigned proposal as a BIP174 PSBT (base64). */
  psbt: string
  signers: number[] | null
  /** 'presignature' | 'full' | 'frost', once signing started. */
  signingMode: string | null
  votes: VoteDto[]
  confirmations: number
  error: { code: string; message: string } | null
  createdAt: string
  updatedAt: string
  history: { state: TransactionStateDto; at: string }[]
}

/** `GET /api/v1/transactions`: one page of this node's history (PostgreSQL), newest first. */
export interface TransactionListDto {
  transactions: TransactionDto[]
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null
}

/**
 * `POST /api/v1/transactions/quote` (body: a {@link SendRequest}): what that send would be if
 * made now — coins, fee, size, change — with nothing reserved and no address index used. The
 * same request sent next, with nothing else spending meanwhile, builds this transaction.
 */
export interface QuoteDto {
  type: WalletType
  keyId: string
  to: string
  /** What the payments add up to (after the fee when it comes out of them). */
  amountSats: number
  recipients: RecipientDto[]
  feeSats: number
  /** sat/vB the fee pays (the request's, or the chain's estimate within the policy's bounds). */
  feeRate: number
  vsize: number
  inputs: { txid: string; vout: number; valueSats: number; path: string }[]
  /** The payment first, then the change (if any; to the next change address, taken only by a send). */
  outputs: { address: string; valueSats: number; change: boolean }[]
  /** Satoshis back to the wallet; 0 when the change would be dust and goes to the fee. */
  changeSats: number
  /** How it would be signed: 'presignature' (every input has a ready presignature), 'full' or 'frost'. */
  signingMode: 'presignature' | 'full' | 'frost'
  /** The chain's tip height the quote was made at (the send's nLockTime). */
  tipHeight: number
}

/** Where a wallet coin stands: spendable by a send, reserved by one in flight, or waiting for a confirmation. */
export const UtxoStatuses = ['spendable', 'reserved', 'unconfirmed'] as const
export type UtxoStatus = (typeof UtxoStatuses)[number]

/** One wallet coin as `GET /api/v1/wallet/utxos` lists it. */
export interface UtxoDto {
  type: WalletType
  keyId: string
  txid: string
  vout: number
  valueSats: number
  address: string
  /** BIP32 path below the key, e.g. "m/0/7" (receive) or "m/1/2" (change). */
  path: string
  status: UtxoStatus
  /** 0 while in the mempool. */
  confirmations: number
  /** Id of the send that reserved it (until that send's spend confirms); null when free. */
  reservedBy: string | null
  /** SegWit: a ready presignature for the preferred signer set covers it (a send of it signs in milliseconds). */
  presigned: boolean
}

/** `GET /api/v1/wallet/utxos?type=&status=`: the wallet's coins, by outpoint. */
export interface UtxoListDto {
  network: BitcoinNetwork
  tipHeight: number
  utxos: UtxoDto[]
  /** Sums over the listed coins, in satoshis. */
  totals: { spendableSats: number; reservedSats: number; unconfirmedSats: number }
}

/** One incoming payment to a wallet receive address, as `GET /api/v1/wallet/deposits` lists it. */
export interface DepositDto {
  type: WalletType
  keyId: string
  txid: string
  vout: number
  valueSats: number
  address: string
  /** BIP32 path of the receive address, e.g. "m/0/7". */
  path: string
  /** 0 while in the mempool. */
  confirmations: number
  blockHeight: number | null
  /** Block time (ISO 8601); null in the mempool. */
  blockTime: string | null
  /** The paying transaction spends a coin of this wallet (a send to its own address), not an outside payment. */
  fromWallet: boolean
}

/** `GET /api/v1/wallet/deposits?type=&limit=`: payments to the wallet's receive addresses, unconfirmed first, then newest first. */
export interface DepositListDto {
  network: BitcoinNetwork
  tipHeight: number
  deposits: DepositDto[]
  /** Receive addresses asked (every one handed out so far). */
  addressesScanned: number
}

/** `GET /api/v1/wallet/deposits` query. */
export interface DepositListQuery {
  type?: WalletType
  /** 1..1000 (default 100). */
  limit?: number
}

/** `GET /api/v1/wallet/utxos` query. */
export interface UtxoListQuery {
  type?: WalletType
  status?: UtxoStatus
}

/**
 * `POST /api/v1/transactions/:id/bump` (feeRate required) and `/cancel` (feeRate optional: by
 * default 1 sat/vB above the replaced rate) body. The replacement pays more than the replaced
 * fee rate, and at least the replaced fee plus 1 sat/vB of its own size (BIP125).
 */
export interface ReplaceRequest {
  feeRate?: number
}

/** `POST /api/v1/transactions/:id/abandon` body: why (recorded in the audit log). */
export interface AbandonRequest {
  /** 1..500 characters. */
  reason: string
}

/**
 * `POST /api/v1/transactions/:id/abandon`: the coin reservations of a `failed` send released
 * after the chain said it neither has the signed transaction nor an input spent by it. The
 * transaction record itself is unchanged (still `failed`).
 */
export interface AbandonDto {
  id: string
  /** The txid every signed version of the transaction has (witnesses are not part of it). */
  txid: string
  /** The outpoints (`txid:vout`) whose reservation was released. */
  released: string[]
  abandonedAt: string
  /** What stays true after abandoning: the signed transaction can still be broadcast while its inputs are unspent. */
  warning: string
}

/** `GET /api/v1/transactions` query: filters and the page. */
export interface TransactionListQuery {
  state?: TransactionStateDto
  type?: WalletType
  /** ISO time: transactions created at or after it. */
  since?: string
  /** Only the transactions sent with this `externalId`. */
  externalId?: string
  /** 1..500 (default 50). */
  limit?: number
  /** `nextCursor` of the page before. */
  cursor?: string
}

/** `POST /api/v1/presignatures` body. */
export interface PresignatureRequest {
  count: number
  /** The 4-node signer set to make them for (default: the preferred set, the lowest up unbanned ids). */
  signers?: number[]
}

/** `POST /api/v1/presignatures` answer: the presignature jobs queued. */
export interface PresignatureJobsDto {
  queued: { id: string; keyId: string; path: string; signers: number[] }[]
}

/** `GET /api/v1/presignatures/status`. */
export interface PresignatureStatusDto {
  keyId: string | null
  preferredSigners: number[]
  /** Ready (unallocated) presignatures per signer set, e.g. {"1,2,3,4": 3}. */
  ready: Record<string, number>
  generating: number
  used: number
  burned: number
  /** Spendable UTXOs (and next receive/change addresses) whose path has one ready for the preferred set. */
  coverage: { utxos: number; covered: number; ratio: number }
}

// ------------------------------------------------------------------ Byzantine

export type ViolationType = 'double_vote' | 'invalid_signature' | 'minority_attack' | 'protocol_violation' | 'invalid_decision'

/** One accusation against a node, with what proves it (`GET /api/v1/byzantine/violations`). */
export interface ViolationDto {
  id: string
  type: ViolationType
  offender: number
  /** Transaction attempt (`<txId>.<attempt>`), transaction id or wire session the evidence is about. */
  sessionId: string | null
  /** `proven` once enough distinct nodes (not the offender) re-verified it and signed their accusation. */
  status: 'reported' | 'proven' | 'cleared'
  /** Nodes whose signed accusation verified. */
  accusers: number[]
  evidence: Record<string, unknown>
  reportedAt: string
  provenAt: string | null
}

export interface ViolationListDto {
  violations: ViolationDto[]
  bans: { nodeId: number; reason: string; bannedAt: string; violations: string[] }[]
  /** Proven violations needed for a ban, and distinct accusers needed for a proof. */
  banThreshold: number
  minAccusers: number
}

/** `POST /api/v1/cluster/nodes/:id/unban`. */
export interface UnbanDto {
  nodeId: number
  wasBanned: boolean
  unbannedAt: string
}

export const DrillBehaviours = ['corrupt-share', 'equivocate-vote', 'replay', 'wrong-session', 'drop', 'delay', 'approve-everything', 'etcd-tamper'] as const
export type DrillBehaviour = (typeof DrillBehaviours)[number]

/** `GET/POST /api/v1/drill`: this node's Byzantine drill behaviours (drill-enabled nodes only). */
export interface DrillDto {
  nodeId: number
  enabled: boolean
  behaviours: DrillBehaviour[]
}

/** What a bearer token may do: viewer reads; operator also sends and makes presignatures; admin does everything. */
export const TokenRoles = ['viewer', 'operator', 'admin'] as const
export type TokenRole = (typeof TokenRoles)[number]

/** `POST /api/v1/tokens` body. */
export interface CreateTokenRequest {
  /** A label for people (1-64 characters: letters, digits, space, `._-@:`). */
  name: string
  role: TokenRole
}

/** One API token as `GET /api/v1/tokens` lists it (never the token itself, never its hash). */
export interface TokenDto {
  id: string
  name: string
  role: TokenRole
  createdAt: string
  revokedAt: string | null
  lastUsedAt: string | null
}

/** `POST /api/v1/tokens`: the token (`tw_<base64url>`) is shown here once and never again. */
export interface CreatedTokenDto extends TokenDto {
  token: string
}

export interface TokenListDto {
  tokens: TokenDto[]
}

// ------------------------------------------------------------------ events and webhooks

/** Transaction states that produce an event `transaction.<state>` when a send reaches them. */
export const TransactionEventStates = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed', 'rejected', 'failed', 'expired'] as const

/**
 * Every event type: `transaction.<state>` as a send (payment, batch, bump, cancel,
 * consolidation) reaches each state, `deposit.pending` when a payment to a receive address
 * is first seen unconfirmed and `deposit.confirmed` when it is in a block. `webhook.ping` is
 * only sent by `POST /api/v1/webhooks/{id}/test`.
 */
export const EventTypes = [...TransactionEventStates.map((s) => `transaction.${s}` as const), 'deposit.pending', 'deposit.confirmed', 'webhook.ping'] as const
export type EventType = (typeof EventTypes)[number]

/** What a webhook or stream subscribes to: an event type, `<group>.*` or `*`. */
export type EventFilter = EventType | 'transaction.*' | 'deposit.*' | '*'
export const EventFilters: readonly EventFilter[] = ['*', 'transaction.*', 'deposit.*', ...EventTypes.filter((t) => t !== 'webhook.ping')]

/** Whether event type `type` matches any of `filters` (an empty list matches everything). */
export function eventMatches(type: string, filters: readonly string[]): boolean {
  if (filters.length === 0) return true
  return filters.some((f) => f === '*' || f === type || (f.endsWith('.*') && type.startsWith(f.slice(0, -1))))
}

/** `data` of a `transaction.*` event: the send as it stood when the event was written. */
export interface TransactionEventData {
  transactionId: string
  /** The state this event announces (the send may have moved on since). */
  state: TransactionStateDto
  type: WalletType
  keyId: string
  /** Bitcoin txid once signed (null before). */
  txid: string | null
  amountSats: number
  feeSats: number
  feeRate: number
  recipients: { to: string; amountSats: number }[]
  memo: string | null
  externalId: string | null
  /** Set on a fee bump or cancellation: the send it replaces and how. */
  replacement: { of: string; kind: 'bump' | 'cancel' } | null
  /** Set when the chain took a replacement of this send instead. */
  replacedBy: string | null
  error: { code: string; message: string } | null
}

/** `data` of a `deposit.*` event: the payment, as `GET /api/v1/wallet/deposits` lists it. */
export type DepositEventData = DepositDto

/**
 * One event of the cluster's event log (kept 3 days): `seq` orders them (an etcd revision:
 * increasing, with gaps); `id` is stable (`tx.<transactionId>.<n>`,
 * `deposit.<txid>.<vout>.<pending|confirmed>`), so a receiver that sees an id twice drops the
 * second (deliveries are at least once).
 */
export interface WalletEventDto {
  id: string
  seq: number
  type: EventType
  /** When it happened (ISO 8601). */
  at: string
  data: TransactionEventData | DepositEventData | { webhookId: string; message: string }
}

/** `POST /api/v1/webhooks` body. */
export interface CreateWebhookRequest {
  /** Where events are POSTed: an http(s) URL. */
  url: string
  /** Event types, `transaction.*`, `deposit.*` or `*` (the default). */
  events?: EventFilter[]
  description?: string
}

/** A webhook subscription (never its secret, but when created). */
export interface WebhookDto {
  id: string
  url: string
  events: EventFilter[]
  description: string | null
  createdAt: string
  /** The event of the log delivered last (or given up on), and what is waiting for a retry. */
  delivery: { lastSeq: number | null; retrying: { eventId: string; attempts: number; nextAttemptAt: string } | null }
}

/** `POST /api/v1/webhooks`: the signing secret (`whsec_<base64url>`) is in this answer only. */
export interface CreatedWebhookDto extends WebhookDto {
  secret: string
}

export interface WebhookListDto {
  webhooks: WebhookDto[]
}

/** One delivery attempt of one event to one webhook. */
export interface WebhookDeliveryDto {
  webhookId: string
  eventId: string
  eventType: string
  seq: number | null
  attempt: number
  /** delivered (2xx), failed (will be retried), gave_up (the last attempt failed), refused (the event did not check out: never sent). */
  outcome: 'delivered' | 'failed' | 'gave_up' | 'refused'
  httpStatus: number | null
  error: string | null
  durationMs: number
  /** The node that made the attempt (the leader of the moment; any node for a test). */
  nodeId: number
  at: string
}

export interface WebhookDeliveryListDto {
  deliveries: WebhookDeliveryDto[]
}

/** `POST /api/v1/cluster/recover` body. */
export interface ClusterRecoverRequest {
  /** Report what would be done and write nothing (default false). */
  dryRun?: boolean
}

/**
 * What `cluster recover` found and did (or, on a dry run, would do) after etcd lost the
 * cluster's state: keys re-registered from the shares every node holds, address indexes raised
 * past every used address, unfinished sends resolved against the chain.
 */
export interface ClusterRecoveryDto {
  dryRun: boolean
  /** The node that ran it. */
  nodeId: number
  keys: RecoveredKeyDto[]
  addresses: RecoveredIndexDto[]
  /** Address labels put back from the audit log (would be, on a dry run). */
  labels: number
  transactions: RecoveredTxDto[]
  /** What recovery does not bring back, for the operator to redo by hand. */
  notRecovered: string[]
}

export interface RecoveredKeyDto {
  keyId: string
  protocol: 'ecdsa' | 'schnorr'
  publicKey: string | null
  /** Nodes whose signed statement says they hold a share with exactly these public facts. */
  claimedBy: number[]
  /** present: etcd has its record; registered / would_register: all nodes agree and etcd had none; refused: not every node agrees (reason). */
  action: 'present' | 'registered' | 'would_register' | 'refused'
  reason: string | null
}

export interface RecoveredIndexDto {
  keyId: string
  type: 'segwit' | 'taproot'
  chain: 'receive' | 'change'
  /** Next index etcd held before. */
  before: number
  /** Next index after recovery (never lower than before). */
  after: number
  /** Highest index the chain shows a transaction for (gap-limit scan), or null. */
  lastUsedOnChain: number | null
  /** Highest index the history names: a send spent from or paid change to it, or the audit log says it was handed out (`address.issued`); null if none. */
  lastInHistory: number | null
}

export interface RecoveredTxDto {
  id: string
  txid: string | null
  /** The state the nodes' history last saw. */
  from: TransactionStateDto
  /** The state it is resolved to (from again when nothing could be decided yet). */
  to: TransactionStateDto
  code: string | null
  message: string
  /** resolved / would_resolve; unresolved: left as it is for the next run (reason in message). */
  action: 'resolved' | 'would_resolve' | 'unresolved'
}
