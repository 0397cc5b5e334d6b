import { Inject, Injectable, Logger } from '@nestjs/common'
import { MAX_RECIPIENTS, MAX_SWEEP_INPUTS, type QuoteDto, type SendRequest, type TransactionDto, type TransactionListDto, type WalletType } from '@tw/api'
import {
  BitcoinError,
  buildUnsignedTransaction,
  dustThreshold,
  estimateVsize,
  INPUT_VBYTES,
  leastSelectionFee,
  parseAddress,
  parseAmountSats,
  selectCoins,
  type Selection,
  type SelectionRequest,
  type Utxo,
} from '@tw/bitcoin'
import { createHash, randomUUID } from 'node:crypto'
import { AuditService } from '../audit/audit.service'
import { DrillService } from '../byzantine/drill.service'
import { NodeIdentityService } from '../byzantine/identity.service'
import { errorMessage } from '../common/async'
import { canonicalJson } from '../common/canonical-json'
import { currentRequestId } from '../common/request-context'
import { ConflictError, DependencyUnavailableError, NotFoundError, WalletRequestError } from '../common/errors'
import { EtcdRepository } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { listedDestination, proposalHash, proposerStatement, type ProposalBody } from './policy'
import { PresignatureService } from './presignature.service'
import { TxStore, type HistoryQuery } from './tx-store'
import { WalletService, type WalletKey } from './wallet.service'
import { pathString, WalletKeys, type IdempotencyRecord, type TxRecord } from './wallet.types'

/** HTTP status of each bad-request code of coin selection and validation. */
const STATUS_OF: Record<string, number> = {
  INVALID_ADDRESS: 400,
  WRONG_NETWORK: 400,
  INVALID_AMOUNT: 400,
  DUST_OUTPUT: 400,
  DUPLICATE_RECIPIENT: 400,
  FEE_RATE_OUT_OF_BOUNDS: 400,
  FEE_TOO_HIGH: 422,
  INSUFFICIENT_FUNDS: 422,
}

/** Turns a libs/bitcoin error into the API's error (same stable code). */
function toRequestError(err: unknown): unknown {
  if (err instanceof BitcoinError && STATUS_OF[err.code]) {
    return new WalletRequestError(err.code as never, STATUS_OF[err.code], err.message, err.details)
  }
  return err
}

/**
 * Coin selection that prefers coins with a ready presignature (`presigned(path)`): when those
 * alone pay for the request with no more inputs than the best selection over every coin, the
 * spend takes the fast signing path (milliseconds instead of seconds of full threshold
 * signing) at no extra fee; otherwise the best selection over every coin stands, and so does
 * its error.
 */
export function selectPreferringPresigned(req: SelectionRequest, presigned: ((path: number[]) => boolean) | null): Selection {
  const best = selectCoins(req)
  if (!presigned || best.inputs.every((u) => presigned(u.path))) return best
  const covered = req.utxos.filter((u) => presigned(u.path))
  if (covered.length === 0) return best
  try {
    const fast = selectCoins({ ...req, utxos: covered })
    return fast.inputs.length <= best.inputs.length ? fast : best
  } catch (err) {
    if (err instanceof BitcoinError) return best
    throw err
  }
}

/**
 * Whether each of `paths` can take its own ready presignature. `ready` holds the paths with at
 * least one; the same path twice is counted as covered once (a conservative guess).
 */
function coveredOnce(paths: string[], ready: Set<string>): boolean {
  const left = new Set(ready)
  return paths.every((p) => left.delete(p))
}

/** How long a request's claim on an Idempotency-Key holds before a retry may take it over. */
export const IDEMPOTENCY_CLAIM_MS = 30_000
/** How long a duplicate request waits for the first one's commit before answering 409 "retry shortly". */
const IDEMPOTENCY_WAIT_MS = 5_000

/**
 * `/tw/idempotency/<hash>` as this version writes it. `claimed`: a request is building
 * transaction `txId` (it serializes concurrent duplicates) until `expiresAt`, after which a
 * retry may take it over by compare-and-swap; `committed`: written in the same etcd
 * transaction as `/tw/tx/<txId>`. Records of earlier versions have no state.
 */
interface IdempotencyEntry extends IdempotencyRecord {
  state?: 'claimed' | 'committed'
  expiresAt?: string
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** How a send's fee rate is chosen: given, or from the chain's estimate for a target, capped by the request. */
interface FeeChoice {
  feeRate: number | null
  targetBlocks?: number
  maxFeeRate?: number
}

/** One payment of a checked request: its address, script and the amount asked (0 for "max"). */
interface Payment {
  to: string
  script: Uint8Array
  amountSats: number
}

/** A send request checked at the edge. */
interface CheckedSend extends FeeChoice {
  type: WalletType
  payments: Payment[]
  /** `amountSats: "max"`: every spendable coin, no change, the fee out of the one payment. */
  max: boolean
  /** The fee comes out of the payments. */
  subtractFee: boolean
  /** Coin control: exactly these coins are spent. */
  inputs?: { txid: string; vout: number }[]
  /** A consolidation: no payment, the coins (all spendable ones, or `inputs`) to one change output. */
  consolidate: boolean
  memo?: string
  externalId?: string
  /** What the Idempotency-Key's body hash covers (a plain send's hashes as before batches existed). */
  canonical: Record<string, unknown>
}

/** `fee` split over `n` payments: each pays floor(fee / n), the first (fee mod n) one sat more. */
function feeShare(fee: number, n: number, i: number): number {
  return Math.floor(fee / n) + (i < fee % n ? 1 : 0)
}

/**
 * The transaction that spends exactly `inputs` on `payments` (none for a consolidation: all to
 * change). With `feeFromPayments`, the wallet pays the payments' amounts and the recipients
 * share the fee (for "max", the payments' amount is the coins' sum: no change); otherwise the
 * fee comes on top. What is left goes to change unless it would be dust, then to the fee.
 * A payment left below dust by its share: DUST_OUTPUT; coins that cannot pay: INSUFFICIENT_FUNDS.
 */
export function spendExactly(p: {
  inputs: Utxo[]
  payments: { script: Uint8Array; amountSats: number }[]
  change: { scriptPubKey: Uint8Array; path: number[] }
  feeRate: number
  maxFeeSats: number
  feeFromPayments: boolean
}): Selection {
  const sumIn = p.inputs.reduce((n, u) => n + u.value, 0)
  const asked = p.payments.reduce((n, x) => n + x.amountSats, 0)
  const kinds = p.inputs.map((u) => u.keyType)
  const scripts = p.payments.map((x) => x.script)
  const sizeOf = (withChange: boolean) => estimateVsize(kinds, withChange ? [...scripts, p.change.scriptPubKey] : scripts)
  const changeDust = dustThreshold(p.change.scriptPubKey)
  const short = (needed: number) => new BitcoinError('INSUFFICIENT_FUNDS', `the coins hold ${sumIn} sats, less than the ${needed} sats needed`, { available: sumIn, needed })
  let fee: number
  let changeValue: number
  let shared = 0
  if (p.feeFromPayments) {
    const left = sumIn - asked
    if (left < 0) throw short(asked)
    const withChange = left >= changeDust
    shared = Math.ceil(p.feeRate * sizeOf(withChange))
    changeValue = withChange ? left : 0
    // Below dust, what is left over goes to the fee, as in any changeless spend.
    fee = withChange ? shared : shared + left
  } else {
    const withChange = sumIn - asked - Math.ceil(p.feeRate * sizeOf(true))
    if (withChange >= changeDust) {
      changeValue = withChange
      fee = sumIn - asked - withChange
    } else {
      const needed = asked + Math.ceil(p.feeRate * sizeOf(false))
      if (sumIn < needed || p.payments.length === 0) throw short(p.payments.length === 0 ? Math.ceil(p.feeRate * sizeOf(true)) + changeDust : needed)
      changeValue = 0
      fee = sumIn - asked
    }
  }
  if (fee > p.maxFeeSats) throw new BitcoinError('FEE_TOO_HIGH', `fee of ${fee} sats exceeds the cap of ${p.maxFeeSats}`, { fee, maxFeeSats: p.maxFeeSats, feeRate: p.feeRate })
  const outputs: Selection['outputs'] = p.payments.map((x, i) => {
    const value = x.amountSats - feeShare(shared, p.payments.length, i)
    if (value < dustThreshold(x.script)) {
      throw new BitcoinError('DUST_OUTPUT', `after its share of the ${shared} sats fee, payment ${i + 1} would be ${value} sats: dust`, { value, fee: shared })
    }
    return { scriptPubKey: x.script, value, isChange: false }
  })
  if (changeValue > 0) outputs.push({ scriptPubKey: p.change.scriptPubKey, value: changeValue, isChange: true, path: [...p.change.path] })
  return { inputs: [...p.inputs], outputs, fee, vsize: sizeOf(changeValue > 0), algorithm: 'exact' }
}

/**
 * A proposal as its node publishes it for voting (`/tw/tx/<id>` in state `voting`): the body
 * votes are about, its hash, the proposer's signature over it and the request's id.
 */
export function newProposal(
  base: ProposalBody,
  p: { feeSats: number; feeRate: number; vsize: number; locktime: number; proposedBy: number; sign: (statement: object) => string; now: string },
): TxRecord {
  const hash = proposalHash(base)
  return {
    ...base,
    feeSats: p.feeSats,
    feeRate: p.feeRate,
    vsize: p.vsize,
    locktime: p.locktime,
    proposalHash: hash,
    proposedBy: p.proposedBy,
    requestId: currentRequestId(),
    // The proposer answers for it: voters refuse a proposal no node signed (an etcd writer's).
    proposerSignature: p.sign(proposerStatement(hash, p.proposedBy)),
    state: 'voting',
    attempt: 0,
    signers: null,
    signingMode: null,
    signedTx: null,
    txid: null,
    error: null,
    createdAt: p.now,
    updatedAt: p.now,
    history: [
      { state: 'pending', at: p.now },
      { state: 'voting', at: p.now },
    ],
  }
}

/** Confirmation target of the fee estimate when a send names neither feeRate nor targetBlocks. */
const DEFAULT_TARGET_BLOCKS = 6

/** A Bitcoin txid: 64 hex digits. */
const TXID = /^[0-9a-fA-F]{64}$/

/** Coin selections tried when concurrent sends keep taking the chosen coins first. */
const PROPOSE_ATTEMPTS = 20

/**
 * `POST /api/v1/transactions` on any node: validates, builds the proposal (coin selection,
 * change, fee, RBF, nLockTime = tip), and in ONE etcd transaction reserves its coins and
 * publishes it for voting. Bad input is refused before anything is reserved. With an
 * `Idempotency-Key`, the same key and body give the same transaction; the same key with
 * another body is a 409. The key's record is written in the same etcd transaction as the
 * proposal, so a retry after an ambiguous failure (a commit whose answer was lost) finds the
 * one transaction; a request that crashed before committing leaves only a claim that expires.
 */
@Injectable()
export class SendService {
  private readonly log = new Logger('Send')

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly wallet: WalletService,
    private readonly store: TxStore,
    private readonly audit: AuditService,
    private readonly drill: DrillService,
    private readonly presignatures: PresignatureService,
    private readonly identity: NodeIdentityService,
  ) {}

  async create(body: SendRequest, idempotencyKey: string | null): Promise<{ tx: TransactionDto; created: boolean }> {
    const request = this.validate(body)
    if (idempotencyKey === null) {
      const txId = randomUUID()
      let record: TxRecord
      try {
        record = await this.propose(txId, request, null)
      } catch (err) {
        // A timed-out commit may have gone through: the record tells.
        const committed = await this.committed(txId)
        if (!committed) throw toRequestError(err)
        record = committed
      }
      return { tx: await this.published(record, null), created: true }
    }
    const bodyHash = createHash('sha256').update(canonicalJson(request.canonical)).digest('hex')
    const idemKey = WalletKeys.idempotency(createHash('sha256').update(idempotencyKey).digest('hex'))
    const waitUntil = Date.now() + IDEMPOTENCY_WAIT_MS
    for (let round = 0; ; round++) {
      // Every round waits or races another writer of the key; a bound against a pathological spin.
      if (round > 1000) throw new ConflictError('this Idempotency-Key is contended; retry shortly')
      const entry = await this.etcd.get<IdempotencyEntry>(idemKey)
      if (!entry && round === 0) {
        // Gone from etcd: perhaps pruned long after its transaction finished (TW_TX_RETENTION_S).
        // The mirror row that holds the key names the one transaction.
        const earlier = await this.mirroredIdempotency(idempotencyKey)
        if (earlier) {
          if (earlier.bodyHash !== null && earlier.bodyHash !== bodyHash) {
            throw new WalletRequestError('IDEMPOTENCY_KEY_REUSED', 409, 'this Idempotency-Key was used with a different request body')
          }
          // This node's view first; else the row that holds the key (another node's, in a shared database).
          const tx = (await this.historic(earlier.txId)) ?? (earlier.record ? await this.store.toDto(earlier.record, 0, []) : null)
          if (tx) return { tx, created: false }
          // A transaction was made with this key, but no record of it is left to show: refuse
          // rather than make a second one.
          throw new WalletRequestError('IDEMPOTENCY_KEY_REUSED', 409, `this Idempotency-Key was used for transaction ${earlier.txId}`)
        }
      }
      let txId: string
      if (entry) {
        const rec = entry.value
        if (rec.bodyHash !== bodyHash) {
          throw new WalletRequestError('IDEMPOTENCY_KEY_REUSED', 409, 'this Idempotency-Key was used with a different request body')
        }
        // Committed (written with its transaction), or written by an earlier version: the one transaction.
        if (rec.state !== 'claimed') return { tx: await this.replay(rec), created: false }
        const live = Date.parse(rec.expiresAt ?? '') > Date.now()
        if (live) {
          // Another request is building it: wait for its commit (or its release, or its expiry).
          if (Date.now() > waitUntil) throw new ConflictError('the first request with this Idempotency-Key is still being processed; retry shortly')
          await sleep(50)
          continue
        }
        // An expired claim (its request crashed or gave up): take it over by compare-and-swap.
        // Its request's commit compares the claim's revision, so it can no longer land.
        txId = randomUUID()
        if (!(await this.etcd.atomic({ unchanged: [[idemKey, entry.modRevision]], puts: [[idemKey, this.claim(txId, bodyHash)]] }))) continue
        this.log.warn(`Idempotency-Key claim for transaction ${rec.txId} expired unused; taken over for ${txId}`)
      } else {
        txId = randomUUID()
        if (!(await this.etcd.putIfAbsent(idemKey, this.claim(txId, bodyHash)))) continue
      }
      const mine = await this.etcd.get<IdempotencyEntry>(idemKey)
      if (!mine || mine.value.txId !== txId) continue // taken over already: see what it became
      let record: TxRecord
      try {
        record = await this.propose(txId, request, { key: idemKey, modRevision: mine.modRevision, bodyHash })
      } catch (err) {
        // Never delete blindly: the commit (record + claim in one etcd transaction) may have
        // gone through even though the call failed. Read it back; if it is not there, release
        // the claim only if it is still exactly ours (compare-and-delete): that also fences off
        // a commit still in flight, which compares the same revision.
        const committed = await this.committed(txId)
        if (committed) {
          record = committed
        } else {
          const released = await this.etcd.atomic({ unchanged: [[idemKey, mine.modRevision]], deletes: [idemKey] }).catch(() => null)
          // null: etcd did not answer; the claim stays and expires, a retry takes it over.
          if (released !== false) throw toRequestError(err)
          continue // the claim changed under us (committed after all, or taken over): resolve from the record
        }
      }
      return { tx: await this.published(record, idempotencyKey, bodyHash), created: true }
    }
  }

  /** A page of this node's history, from its PostgreSQL mirror (etcd keeps only recent transactions). */
  async list(q: HistoryQuery): Promise<TransactionListDto> {
    return this.store.history(q)
  }

  /** One transaction by its id, or by its Bitcoin txid (64 hex digits; looked up in this node's mirror). */
  async get(ref: string): Promise<TransactionDto> {
    const id = TXID.test(ref) ? await this.idByTxid(ref.toLowerCase()) : ref
    const entry = await this.store.get(id)
    if (!entry) {
      // Finished and pruned from etcd: this node's mirror holds it (with the votes it recorded).
      const historic = await this.store.fromMirror(id)
      if (historic) return historic
      throw new NotFoundError(`no transaction ${id}`)
    }
    let confirmations = 0
    const r = entry.value
    if (r.txid && (r.state === 'broadcast' || r.state === 'confirmed')) {
      try {
        const [status, tip] = await Promise.all([this.wallet.chain().txStatus(r.txid), this.wallet.chain().tipHeight()])
        confirmations = status.confirmed && status.blockHeight !== null ? tip - status.blockHeight + 1 : 0
      } catch {
        confirmations = 0
      }
    }
    return this.store.toDto(r, confirmations)
  }

  private async idByTxid(txid: string): Promise<string> {
    let id: string | null
    try {
      id = await this.store.idByTxid(txid)
    } catch (err) {
      throw new DependencyUnavailableError(`looking up txid ${txid} needs the database, which could not be read: ${errorMessage(err)}`)
    }
    if (!id) throw new NotFoundError(`no transaction of this wallet has txid ${txid}`)
    return id
  }

  /** The transaction of a committed (or earlier version's) idempotency record. */
  private async replay(rec: IdempotencyEntry): Promise<TransactionDto> {
    for (let i = 0; i < 50; i++) {
      const entry = await this.store.get(rec.txId)
      if (entry) return this.store.toDto(entry.value)
      // Committed, finished and pruned from etcd since: the mirror has it.
      const historic = rec.state === 'committed' ? await this.historic(rec.txId) : null
      if (historic) return historic
      await sleep(100) // an earlier version's record: its request is still building it
    }
    throw new ConflictError('the first request with this Idempotency-Key is still being processed; retry shortly')
  }

  private claim(txId: string, bodyHash: string): IdempotencyEntry {
    return { txId, bodyHash, state: 'claimed', expiresAt: new Date(Date.now() + IDEMPOTENCY_CLAIM_MS).toISOString() }
  }

  /**
   * The mirror row holding this Idempotency-Key, or null. PostgreSQL down: null with a warning
   * (the key's etcd record outlives its transaction by 7 × TW_TX_RETENTION_S, so only a retry
   * later than that while the database is down could make a second transaction).
   */
  private async mirroredIdempotency(idempotencyKey: string): Promise<{ txId: string; bodyHash: string | null; record: TxRecord | null } | null> {
    try {
      return await this.store.byIdempotencyKey(idempotencyKey)
    } catch (err) {
      this.log.warn(`Idempotency-Key lookup in PostgreSQL failed (${errorMessage(err)}); going by etcd alone`)
      return null
    }
  }

  /** Transaction `txId` from etcd, or from this node's mirror once pruned; null if neither has it. */
  private async historic(txId: string): Promise<TransactionDto | null> {
    const entry = await this.store.get(txId)
    if (entry) return this.store.toDto(entry.value)
    return this.store.fromMirror(txId).catch(() => null)
  }

  /** `/tw/tx/<txId>` if it exists (a failed call may have committed it); null if absent or unreadable. */
  private async committed(txId: string): Promise<TxRecord | null> {
    return (await this.store.get(txId).catch(() => null))?.value ?? null
  }

  /** After the commit: mirror, audit, answer. A failure here leaves the transaction (and its key) in place. */
  private async published(record: TxRecord, idempotencyKey: string | null, bodyHash: string | null = null): Promise<TransactionDto> {
    await this.store.mirror(record, idempotencyKey, bodyHash)
    await this.audit.record(
      'tx.proposed',
      {
        txId: record.id,
        type: record.type,
        to: record.to,
        amountSats: record.amountSats,
        recipients: record.recipients?.length ?? 1,
        feeSats: record.feeSats,
        inputs: record.inputs.length,
        ...(record.externalId ? { externalId: record.externalId } : {}),
        requestId: record.requestId ?? null,
      },
      'api',
    )
    return this.store.toDto(record)
  }

  /** Edge validation: every problem of the request body, before any state is touched. */
  private validate(body: SendRequest): CheckedSend {
    const type: WalletType = body.type ?? 'segwit'
    if (type !== 'segwit' && type !== 'taproot') throw new WalletRequestError('INVALID_ADDRESS', 400, 'type must be segwit or taproot')
    const batch = body.recipients !== undefined
    const consolidate = body.consolidate === true
    const asked = consolidate ? [] : batch ? (body.recipients ?? []) : [{ to: body.to ?? '', amountSats: body.amountSats }]
    if (!consolidate && (asked.length < 1 || asked.length > MAX_RECIPIENTS)) throw new WalletRequestError('INVALID_ADDRESS', 400, `a send has 1..${MAX_RECIPIENTS} recipients`)
    const max = !batch && body.amountSats === 'max'
    const payments: Payment[] = []
    const seen = new Map<string, number>()
    for (const [i, r] of asked.entries()) {
      const which = batch ? `recipient ${i + 1}: ` : ''
      let script: Uint8Array
      let amountSats = 0
      try {
        script = parseAddress(r.to, this.config.chain.network).scriptPubKey
        if (!max) amountSats = parseAmountSats(r.amountSats)
      } catch (err) {
        if (batch && err instanceof BitcoinError) throw new WalletRequestError(err.code as never, STATUS_OF[err.code] ?? 400, which + err.message, { recipient: i + 1 })
        throw toRequestError(err)
      }
      const hex = Buffer.from(script).toString('hex')
      const earlier = seen.get(hex)
      if (earlier !== undefined) {
        throw new WalletRequestError('DUPLICATE_RECIPIENT', 400, `recipients ${earlier + 1} and ${i + 1} pay the same address: pay it once with the sum`, {
          recipient: i + 1,
        })
      }
      seen.set(hex, i)
      payments.push({ to: r.to, script, amountSats })
    }
    const p = this.config.policy
    // A compromised proposer (drill: approve-everything) skips its own policy check; the
    // other nodes' votes must stop it.
    const pushAnything = this.drill.has('approve-everything')
    const total = payments.reduce((n, x) => n + x.amountSats, 0)
    if (total > p.maxAmountSats && !pushAnything) {
      throw new WalletRequestError('POLICY_VIOLATION', 422, `amount ${total} sats exceeds the per-transaction limit of ${p.maxAmountSats} sats`)
    }
    for (const [i, x] of payments.entries()) {
      if (!pushAnything && listedDestination(p, Buffer.from(x.script).toString('hex'), this.config.chain.network)) {
        throw new WalletRequestError('POLICY_VIOLATION', 422, `${batch ? `recipient ${i + 1}: ` : ''}the destination is not allowed by the spending policy`)
      }
    }
    let feeRate: number | null = null
    if (body.feeRate !== undefined && body.feeRate !== null) {
      if (typeof body.feeRate !== 'number' || !Number.isFinite(body.feeRate) || body.feeRate < p.minFeeRate || body.feeRate > p.maxFeeRate) {
        throw new WalletRequestError('FEE_RATE_OUT_OF_BOUNDS', 400, `feeRate must be a number of sat/vB in [${p.minFeeRate}, ${p.maxFeeRate}]`)
      }
      feeRate = body.feeRate
    }
    let maxFeeRate: number | undefined
    if (body.maxFeeRate !== undefined && body.maxFeeRate !== null) {
      if (typeof body.maxFeeRate !== 'number' || !Number.isFinite(body.maxFeeRate) || body.maxFeeRate <= 0) {
        throw new WalletRequestError('FEE_RATE_OUT_OF_BOUNDS', 400, 'maxFeeRate must be a number of sat/vB greater than 0')
      }
      maxFeeRate = body.maxFeeRate
    }
    const subtractFee = body.subtractFeeFromAmount === true || max
    const inputs = body.inputs?.map((i) => ({ txid: i.txid.toLowerCase(), vout: i.vout }))
    if (inputs && new Set(inputs.map((i) => `${i.txid}:${i.vout}`)).size !== inputs.length) {
      throw new WalletRequestError('COIN_NOT_SPENDABLE', 400, 'inputs name the same coin twice')
    }
    const extras = {
      ...(body.targetBlocks !== undefined ? { targetBlocks: body.targetBlocks } : {}),
      ...(maxFeeRate !== undefined ? { maxFeeRate } : {}),
      ...(body.memo !== undefined ? { memo: body.memo } : {}),
      ...(body.externalId !== undefined ? { externalId: body.externalId } : {}),
    }
    // Only the fields given: a plain request hashes as it always did (Idempotency-Key).
    const canonical = {
      ...(consolidate
        ? { consolidate: true }
        : batch
          ? { recipients: payments.map((x) => ({ to: x.to, amountSats: x.amountSats })) }
          : { to: payments[0].to, amountSats: max ? 'max' : payments[0].amountSats }),
      ...(inputs ? { inputs } : {}),
      feeRate,
      type,
      ...(body.subtractFeeFromAmount === true ? { subtractFeeFromAmount: true } : {}),
      ...extras,
    }
    return { type, payments, max, subtractFee, consolidate, ...(inputs ? { inputs } : {}), feeRate, ...extras, canonical }
  }

  /**
   * The fee rate of a send: the request's, else the chain's estimate for its confirmation
   * target (the estimate of the largest target the chain gives at or below it; default 6
   * blocks), rounded up and kept within the policy's bounds. Above the request's
   * `maxFeeRate`: FEE_TOO_HIGH, before anything is reserved.
   */
  private async feeRate(req: FeeChoice): Promise<number> {
    const p = this.config.policy
    let rate: number
    if (req.feeRate !== null) {
      rate = req.feeRate
    } else {
      const est = await this.wallet
        .chain()
        .feeEstimates()
        .catch(() => ({}) as Record<string, number>)
      const target = req.targetBlocks ?? DEFAULT_TARGET_BLOCKS
      const usable = Object.keys(est)
        .map(Number)
        .filter((t) => Number.isInteger(t) && t <= target && Number.isFinite(est[String(t)]))
      const best = usable.length ? Math.max(...usable) : null
      // Rounded up to 0.1 sat/vB (the smallest step Bitcoin Core 29.1+ relays), within the policy's bounds.
      const estimate = best === null ? p.minFeeRate : Math.ceil(Math.round(est[String(best)] * 1000) / 100) / 10
      rate = Math.min(p.maxFeeRate, Math.max(p.minFeeRate, estimate))
    }
    if (req.maxFeeRate !== undefined && rate > req.maxFeeRate) {
      throw new WalletRequestError('FEE_TOO_HIGH', 422, `the fee rate would be ${rate} sat/vB, above this request's maxFeeRate of ${req.maxFeeRate}`, {
        feeRate: rate,
        maxFeeRate: req.maxFeeRate,
      })
    }
    return rate
  }

  /**
   * `POST /api/v1/transactions/quote`: the transaction `body` would make now (coins, fee, size,
   * change), checked like a send (the same codes), with nothing reserved and no address index
   * taken. With nothing else spending meanwhile, the same request sent next builds exactly it.
   */
  async quote(body: SendRequest): Promise<QuoteDto> {
    const req = this.validate(body)
    const type = req.type
    try {
      const key = await this.wallet.key(type)
      const feeRate = await this.feeRate(req)
      const { selection, outs, change, tip, presigned } = await this.draft(req, key, feeRate)
      const inputs = selection.inputs
      // Expected signing path, as the coordinator decides it: one ready presignature per input.
      const fast =
        presigned !== null &&
        coveredOnce(
          inputs.map((u) => pathString(u.path)),
          presigned,
        )
      const recipients = req.payments.map((x, i) => ({ address: x.to, amountSats: outs[i].value }))
      return {
        type,
        keyId: key.keyId,
        to: req.consolidate ? change.address : req.payments[0].to,
        amountSats: recipients.reduce((n, r) => n + r.amountSats, 0),
        recipients,
        feeSats: selection.fee,
        feeRate,
        vsize: estimateVsize(
          inputs.map(() => type),
          outs.map((o) => o.scriptPubKey),
        ),
        inputs: inputs.map((u) => ({ txid: u.txid, vout: u.vout, valueSats: u.value, path: pathString(u.path) })),
        outputs: outs.map((o, i) => ({ address: o.isChange ? change.address : req.payments[i].to, valueSats: o.value, change: o.isChange })),
        changeSats: outs.filter((o) => o.isChange).reduce((a, o) => a + o.value, 0),
        signingMode: type === 'taproot' ? 'frost' : fast ? 'presignature' : 'full',
        tipHeight: tip,
      }
    } catch (err) {
      throw toRequestError(err)
    }
  }

  /**
   * One coin selection for `req` as things stand: coins no send has reserved, the next change
   * address (read, not taken), the chain's tip. Reserves nothing: `propose` commits it, `quote`
   * only shows it. "max" spends every spendable coin (the largest {@link MAX_SWEEP_INPUTS}
   * that pay for themselves); with the fee out of the payments, coins are chosen for the
   * payments less the least fee any such transaction pays, then the fee is taken out exactly.
   */
  private async draft(req: CheckedSend, key: WalletKey, feeRate: number) {
    const type = key.type
    const indexKey = WalletKeys.addressIndex(key.keyId, 1)
    const [utxos, locks, tip, index, presigned] = await Promise.all([
      this.wallet.confirmedUtxos(key),
      this.wallet.reservations(),
      this.wallet.chain().tipHeight(),
      this.etcd.get<{ next: number }>(indexKey),
      type === 'segwit' ? this.presignatures.readyPaths(key.keyId) : null,
    ])
    const spendable = utxos.filter((u) => !locks.has(`${u.txid}:${u.vout}`))
    // The next change address, taken in the same etcd transaction as the coins: a refused
    // request uses up no address index either.
    const changePath = [1, index?.value.next ?? 0]
    const change = this.wallet.derive(key, changePath)
    const p = this.config.policy
    const scripts = req.payments.map((x) => x.script)
    const exactly = (inputs: Utxo[], payments: { script: Uint8Array; amountSats: number }[], feeFromPayments: boolean) =>
      spendExactly({ inputs, payments, change: { ...change, path: changePath }, feeRate, maxFeeSats: p.maxFeeSats, feeFromPayments })
    // Coin control: exactly the coins named, each a confirmed coin of this wallet no send holds.
    const named = req.inputs?.map(({ txid, vout }) => {
      const at = `${txid}:${vout}`
      const coin = utxos.find((u) => u.txid === txid && u.vout === vout)
      if (!coin) throw new WalletRequestError('COIN_NOT_SPENDABLE', 422, `${at} is not a confirmed coin of the ${type} wallet`, { input: at })
      const holder = locks.get(at)
      if (holder) throw new WalletRequestError('COIN_NOT_SPENDABLE', 422, `${at} is reserved by transaction ${holder}`, { input: at, reservedBy: holder })
      return coin
    })
    let selection: Selection
    if (req.max || req.consolidate) {
      // Every spendable coin worth spending (the largest for a sweep, the smallest for a
      // consolidation, at most MAX_SWEEP_INPUTS), or exactly the coins named.
      const coins =
        named ??
        spendable
          .filter((u) => u.value > Math.ceil(INPUT_VBYTES[type] * feeRate))
          .sort((a, b) => (req.consolidate ? a.value - b.value : b.value - a.value))
          .slice(0, MAX_SWEEP_INPUTS)
      if (coins.length === 0) throw new BitcoinError('INSUFFICIENT_FUNDS', 'no spendable coin is worth more than the fee to spend it', { available: 0, needed: 1 })
      const all = coins.reduce((n, u) => n + u.value, 0)
      selection = req.max ? exactly(coins, [{ script: scripts[0], amountSats: all }], true) : exactly(coins, [], false)
    } else if (named) {
      selection = exactly(
        named,
        req.payments.map((x) => ({ script: x.script, amountSats: x.amountSats })),
        req.subtractFee,
      )
    } else {
      // With the fee out of the payments, the coins need cover only the payments less the
      // least fee a selection leaves (one input, no change): whatever they hold beyond the
      // payments is change.
      const least = req.subtractFee ? leastSelectionFee(type, scripts, feeRate) : 0
      const chosen = selectPreferringPresigned(
        {
          utxos: spendable,
          outputs: req.payments.map((x, i) => ({ scriptPubKey: x.script, value: x.amountSats - feeShare(least, scripts.length, i) })),
          feeRate,
          change: { scriptPubKey: change.scriptPubKey, keyType: type, path: changePath },
          minFeeRate: p.minFeeRate,
          maxFeeRate: p.maxFeeRate,
          maxFeeSats: p.maxFeeSats,
        },
        presigned && ((path) => presigned.has(pathString(path))),
      )
      selection = req.subtractFee
        ? exactly(
            chosen.inputs,
            req.payments.map((x) => ({ script: x.script, amountSats: x.amountSats })),
            true,
          )
        : chosen
    }
    // The payments first (in the request's order), change (if any) last: voters check exactly this shape.
    const outs = [...selection.outputs].sort((a, b) => Number(a.isChange) - Number(b.isChange))
    const paid = req.payments.reduce((n, _x, i) => n + outs[i].value, 0)
    if (paid > p.maxAmountSats && !this.drill.has('approve-everything')) {
      throw new WalletRequestError('POLICY_VIOLATION', 422, `amount ${paid} sats exceeds the per-transaction limit of ${p.maxAmountSats} sats`)
    }
    return { selection, outs, change, changePath, tip, index, indexKey, presigned }
  }

  /** Builds and publishes the proposal; retries coin selection if another send took a coin first. */
  private async propose(txId: string, req: CheckedSend, claim: { key: string; modRevision: string; bodyHash: string } | null): Promise<TxRecord> {
    const type = req.type
    const key = await this.wallet.key(type)
    const feeRate = await this.feeRate(req)
    for (let attempt = 0; attempt < PROPOSE_ATTEMPTS; attempt++) {
      // After a lost race, a short random pause so that the racers do not collide again.
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt))
      const { selection, outs, change, changePath, tip, index, indexKey } = await this.draft(req, key, feeRate)
      const unsignedTx = buildUnsignedTransaction({
        inputs: selection.inputs,
        outputs: outs.map((o) => ({ scriptPubKey: o.scriptPubKey, value: o.value })),
        locktime: tip,
        rbf: true,
      })
      const now = new Date().toISOString()
      const payments = req.payments.map((x, i) => ({ to: x.to, amountSats: outs[i].value }))
      const base = {
        id: txId,
        keyId: key.keyId,
        type,
        // A consolidation pays nothing out: its one output goes to the wallet's next change address.
        to: req.consolidate ? change.address : payments[0].to,
        amountSats: payments.reduce((n, x) => n + x.amountSats, 0),
        // One payment: `to` and `amountSats` say it all, and the proposal hashes as it always did.
        ...(payments.length > 1 ? { recipients: payments } : {}),
        ...(req.consolidate ? { consolidation: true as const } : {}),
        ...(req.memo !== undefined ? { memo: req.memo } : {}),
        ...(req.externalId !== undefined ? { externalId: req.externalId } : {}),
        unsignedTx,
        inputs: selection.inputs.map((u) => ({ txid: u.txid, vout: u.vout, value: u.value, scriptPubKey: Buffer.from(u.scriptPubKey).toString('hex'), path: u.path })),
        outputs: outs.map((o, i) => ({
          scriptPubKey: Buffer.from(o.scriptPubKey).toString('hex'),
          address: o.isChange ? change.address : req.payments[i].to,
          value: o.value,
          change: o.isChange,
          ...(o.isChange ? { path: changePath } : {}),
        })),
      }
      const record = newProposal(base, {
        feeSats: selection.fee,
        feeRate,
        vsize: estimateVsize(
          selection.inputs.map(() => type),
          outs.map((o) => o.scriptPubKey),
        ),
        locktime: tip,
        proposedBy: this.config.nodeId,
        sign: (statement) => this.identity.sign(statement),
        now,
      })
      const lockKeys = record.inputs.map((i) => WalletKeys.utxoLock(i.txid, i.vout))
      const ok = await this.etcd.atomic({
        absent: [WalletKeys.tx(txId), ...lockKeys, ...(index ? [] : [indexKey])],
        unchanged: [...(index ? [[indexKey, index.modRevision] as [string, string]] : []), ...(claim ? [[claim.key, claim.modRevision] as [string, string]] : [])],
        puts: [
          ...lockKeys.map((k) => [k, { txId }] as [string, unknown]),
          [WalletKeys.tx(txId), record],
          [WalletKeys.active(txId), { createdAt: now }],
          [indexKey, { next: changePath[1] + 1 }],
          // The idempotency record commits with the transaction it names, or not at all.
          ...(claim ? [[claim.key, { txId, bodyHash: claim.bodyHash, state: 'committed' } satisfies IdempotencyEntry] as [string, unknown]] : []),
        ],
      })
      if (ok) return record
      if (claim && (await this.etcd.get<IdempotencyEntry>(claim.key))?.modRevision !== claim.modRevision) {
        throw new ConflictError("this request's Idempotency-Key claim expired and was taken over")
      }
      this.log.debug(`transaction ${txId}: a coin or the change index was taken concurrently; selecting again`)
    }
    throw new ConflictError('could not reserve coins: other sends keep taking them; retry')
  }
}
