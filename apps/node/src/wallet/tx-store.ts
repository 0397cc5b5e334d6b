import { Inject, Injectable, Logger } from '@nestjs/common'
import type { TransactionDto, TransactionListDto, TransactionStateDto, VoteDto, WalletType } from '@tw/api'
import { createHash } from 'node:crypto'
import { NodeIdentityService } from '../byzantine/identity.service'
import { errorMessage } from '../common/async'
import { BoundedMap } from '../common/bounded'
import { EtcdRepository, type EtcdEntry } from '../cluster/etcd.repository'
import { WatchedPrefix } from '../cluster/watched-prefix'
import { EngineRepository } from '../engine/engine.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { DatabaseRepository } from '../persistence/database.repository'
import { TransactionEntity, VoteEntity, VotingRoundEntity } from '../persistence/entities'
import { toPsbt } from '@tw/bitcoin'
import { decodeCursor, encodeCursor } from './history-cursor'
import { paymentsOf } from './policy'
import { TxView } from './tx-view'
import { clusterNodeIds, pathString, TERMINAL_STATES, WalletKeys, type PresigRecord, type PresigResult, type SignedVote, type SigningResult, type TxRecord } from './wallet.types'

/** PSBTs kept in memory (one per proposal; a few KB each). */
const PSBT_CACHE_MAX = 1000

/** Deterministic row id of a node's mirror of transaction `txId` (one row per node in a shared database). */
export function mirrorRowId(txId: string, nodeId: number): string {
  const h = createHash('sha256').update(`${txId}:${nodeId}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** Node `nodeId`'s history row of `record` (its mirror in PostgreSQL), without the Idempotency-Key columns. */
export function mirrorRowOf(record: TxRecord, nodeId: number) {
  return {
    id: mirrorRowId(record.id, nodeId),
    nodeId,
    keyId: record.keyId,
    keyType: (record.type === 'segwit' ? 'ecdsa' : 'schnorr') as 'ecdsa' | 'schnorr',
    state: record.state,
    toAddress: record.to,
    amountSats: String(record.amountSats),
    feeRate: String(record.feeRate),
    unsignedTx: record.unsignedTx,
    signedTx: record.signedTx,
    txid: record.txid,
    error: record.error ? `${record.error.code}: ${record.error.message}` : null,
    txId: record.id,
    record: record as never,
    // The record's own creation time: the history's order, the same on every node.
    createdAt: new Date(record.createdAt),
  }
}

/**
 * Transactions: etcd holds the record every node acts on (`/tw/tx/<id>`), PostgreSQL a
 * per-node mirror for queries and history. A vote counts only if it is for exactly this
 * proposal and its signature verifies ({@link NodeIdentityService}).
 */
@Injectable()
export class TxStore {
  private readonly log = new Logger('TxStore')
  private readonly mirrorQueue = new Map<string, { record: TxRecord; idempotencyKey: string | null; bodyHash: string | null; waiters: (() => void)[] }>()
  private mirrorWriter: Promise<void> | null = null
  private readonly psbts = new BoundedMap<string, string>(PSBT_CACHE_MAX)
  /** The records as the watch delivers them: what the loops read on every step instead of etcd. */
  private readonly view: TxView
  /** The presignature records as the watch delivers them (the pool every loop reads on every step). */
  private readonly presigPool: WatchedPrefix<PresigRecord>

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly db: DatabaseRepository,
    private readonly identity: NodeIdentityService,
    private readonly engine: EngineRepository,
  ) {
    this.view = new TxView(etcd)
    this.presigPool = new WatchedPrefix<PresigRecord>(etcd, WalletKeys.presigs)
  }

  async get(id: string): Promise<EtcdEntry<TxRecord> | null> {
    return this.etcd.get<TxRecord>(WalletKeys.tx(id))
  }

  /**
   * Every transaction record in etcd, one page at a time (never one range answer for the whole
   * prefix: it would pass the gRPC response limit once etcd holds a few thousand).
   */
  pages(pageSize = 200): AsyncGenerator<EtcdEntry<TxRecord>[]> {
    return this.etcd.getPrefixPaged<TxRecord>(WalletKeys.txs, pageSize)
  }

  /**
   * The transactions not yet in a terminal state, as the watch delivered them ({@link TxView});
   * read from etcd now and then through the `/tw/tx-active/` index, so that costs the same
   * however many finished transactions etcd holds.
   */
  active(): Promise<EtcdEntry<TxRecord>[]> {
    return this.view.unfinished(
      () => this.readActive(),
      (id) => this.get(id),
    )
  }

  private async readActive(): Promise<EtcdEntry<TxRecord>[]> {
    const ids = (await this.etcd.getPrefix<unknown>(WalletKeys.actives)).map((e) => e.key.slice(WalletKeys.actives.length))
    const entries = await Promise.all(ids.map((id) => this.get(id)))
    return entries.filter((e): e is EtcdEntry<TxRecord> => e !== null && !TERMINAL_STATES.includes(e.value.state))
  }

  /** The newest record of `id` the watch delivered, else read from etcd (and kept). */
  async latest(id: string): Promise<EtcdEntry<TxRecord> | null> {
    const held = this.view.latest(id)
    if (held) return held
    const e = await this.get(id)
    if (e) this.view.observe(e)
    return e
  }

  /** Calls `listener(id)` on every change of a transaction record, after {@link active} and {@link latest} have it (see {@link TxView.subscribe}). */
  onRecord(listener: (id: string) => void): Promise<boolean> {
    return this.view.subscribe(listener)
  }

  /** Every presignature record (`/tw/presig/`), from the watch-fed pool ({@link WatchedPrefix}). */
  presignatures(): Promise<EtcdEntry<PresigRecord>[]> {
    return this.presigPool.list()
  }

  /** A record just read from etcd: the view keeps it if it is newer than what it holds. */
  observe(entry: EtcdEntry<TxRecord>): void {
    this.view.observe(entry)
  }

  /** The votes on `id`, one key per node (each node's own partition); a vote naming another node than its key's is dropped. */
  async votes(id: string): Promise<SignedVote[]> {
    return this.perNode(
      (n) => WalletKeys.vote(id, n),
      (v: SignedVote, n) => v?.payload?.nodeId === n,
    )
  }

  /** The results of attempt `n` of `id` by `signers` (each in its own partition). */
  async results(id: string, n: number, signers: number[]): Promise<SigningResult[]> {
    return this.perNode(
      (node) => WalletKeys.result(id, n, node),
      (r: SigningResult, node) => r?.nodeId === node,
      signers,
    )
  }

  /** The results of presignature job `id` by `signers`. */
  async presigResults(id: string, signers: number[]): Promise<PresigResult[]> {
    return this.perNode(
      (node) => WalletKeys.presigResult(id, node),
      (r: PresigResult, node) => r?.nodeId === node,
      signers,
    )
  }

  /** One read per node of the key `keyOf(node)` (all at once), keeping values that name their node. */
  private async perNode<T>(keyOf: (node: number) => string, names: (value: T, node: number) => boolean, nodes = clusterNodeIds(this.config.clusterSize)): Promise<T[]> {
    const entries = await Promise.all(nodes.map(async (n) => ({ n, e: await this.etcd.get<T>(keyOf(n)) })))
    return entries.flatMap(({ n, e }) => (e && names(e.value, n) ? [e.value] : []))
  }

  /** `record` moved to `state` (history appended); the caller writes it (fenced). */
  static advance(record: TxRecord, state: TransactionStateDto, patch: Partial<TxRecord> = {}): TxRecord {
    const at = new Date().toISOString()
    return { ...record, ...patch, state, updatedAt: at, history: [...record.history, { state, at }] }
  }

  /**
   * Upserts this node's PostgreSQL mirror of `record`. Best effort: etcd is the record of
   * truth. One writer per node, newest state per transaction: a mirror asked for while an
   * earlier one of the same transaction waits replaces it, so rows never go back in time and
   * a burst of state changes costs one write. Resolves once the row (or a newer one) is written.
   */
  mirror(record: TxRecord, idempotencyKey: string | null = null, bodyHash: string | null = null): Promise<void> {
    return new Promise<void>((done) => {
      const queued = this.mirrorQueue.get(record.id)
      if (!queued) this.mirrorQueue.set(record.id, { record, idempotencyKey, bodyHash, waiters: [done] })
      else {
        // Records only move forward: the longer history is the newer one.
        if (record.history.length >= queued.record.history.length) queued.record = record
        queued.idempotencyKey ??= idempotencyKey
        queued.bodyHash ??= bodyHash
        queued.waiters.push(done)
      }
      this.mirrorWriter ??= this.writeMirrors()
    })
  }

  private async writeMirrors(): Promise<void> {
    for (let next = this.mirrorQueue.entries().next(); !next.done; next = this.mirrorQueue.entries().next()) {
      const [id, queued] = next.value
      this.mirrorQueue.delete(id)
      await this.upsertMirror(queued.record, queued.idempotencyKey, queued.bodyHash)
      for (const done of queued.waiters) done()
    }
    this.mirrorWriter = null
  }

  private async upsertMirror(record: TxRecord, idempotencyKey: string | null, bodyHash: string | null): Promise<void> {
    try {
      const row = {
        ...mirrorRowOf(record, this.config.nodeId),
        ...(idempotencyKey !== null ? { idempotencyKey } : {}),
        ...(bodyHash !== null ? { bodyHash } : {}),
      }
      // One statement, safe when two steps mirror the same transaction at once.
      await this.db.transaction((em) => em.getRepository(TransactionEntity).upsert(row, ['id']))
    } catch (err) {
      this.log.warn(`mirroring transaction ${record.id} to PostgreSQL failed: ${errorMessage(err)}`)
    }
  }

  /**
   * This node's mirror row of transaction `txId`: its state and the record it holds, or null
   * when there is none. Throws when PostgreSQL cannot be read (callers that delete anything
   * on the strength of the mirror must then delete nothing).
   */
  async mirrorRow(txId: string): Promise<{ state: TransactionStateDto; record: TxRecord | null; updatedAt: Date } | null> {
    const row = await this.db.read((em) => em.getRepository(TransactionEntity).findOne({ where: { id: mirrorRowId(txId, this.config.nodeId) } }))
    return row ? { state: row.state, record: (row.record as unknown as TxRecord | null) ?? null, updatedAt: row.updatedAt } : null
  }

  /**
   * This node's mirror rows of `txIds` in one query: state and whether the row holds a record.
   * Throws when PostgreSQL cannot be read.
   */
  async mirrorStates(txIds: string[]): Promise<Map<string, { state: TransactionStateDto; hasRecord: boolean }>> {
    const out = new Map<string, { state: TransactionStateDto; hasRecord: boolean }>()
    if (txIds.length === 0) return out
    const rows: { tx_id: string; state: TransactionStateDto; has_record: boolean }[] = await this.db.read((em) =>
      em
        .getRepository(TransactionEntity)
        .createQueryBuilder('t')
        .select(['t.tx_id AS tx_id', 't.state AS state', 't.record IS NOT NULL AS has_record'])
        .where('t.id IN (:...ids)', { ids: txIds.map((id) => mirrorRowId(id, this.config.nodeId)) })
        .getRawMany(),
    )
    for (const r of rows) out.set(r.tx_id, { state: r.state, hasRecord: r.has_record })
    return out
  }

  /**
   * The transaction a send with this Idempotency-Key made, from PostgreSQL (after its etcd
   * record was pruned): any node's mirror row holding the key (a shared database holds every
   * node's rows), this node's first. Throws when PostgreSQL cannot be read.
   */
  async byIdempotencyKey(idempotencyKey: string): Promise<{ txId: string; bodyHash: string | null; record: TxRecord | null } | null> {
    const rows = await this.db.read((em) =>
      em
        .getRepository(TransactionEntity)
        .createQueryBuilder('t')
        .where('t.idempotency_key = :k AND t.tx_id IS NOT NULL', { k: idempotencyKey })
        .orderBy(`CASE WHEN t.node_id = ${Number(this.config.nodeId)} THEN 0 ELSE 1 END`)
        .limit(1)
        .getMany(),
    )
    return rows[0]?.txId ? { txId: rows[0].txId, bodyHash: rows[0].bodyHash, record: (rows[0].record as unknown as TxRecord | null) ?? null } : null
  }

  /**
   * Id of this node's transaction with Bitcoin txid `txid` (lowercase hex), from its mirror:
   * the newest if several records name it. Null if none; throws when PostgreSQL cannot be read.
   */
  async idByTxid(txid: string): Promise<string | null> {
    const row = await this.db.read((em) =>
      em
        .getRepository(TransactionEntity)
        .createQueryBuilder('t')
        .where('t.node_id = :me AND t.txid = :txid AND t.tx_id IS NOT NULL', { me: this.config.nodeId, txid })
        .orderBy('t.created_at', 'DESC')
        .limit(1)
        .getOne(),
    )
    return row?.txId ?? null
  }

  /**
   * A page of this node's transaction history from PostgreSQL, newest first (record creation
   * time, then id), filtered; `cursor` is the opaque position {@link HistoryQuery.cursor}
   * after which the page starts.
   */
  async history(q: HistoryQuery): Promise<TransactionListDto> {
    const after = q.cursor ? decodeCursor(q.cursor) : null
    const rows = await this.db.read((em) => {
      const qb = em.getRepository(TransactionEntity).createQueryBuilder('t').where('t.node_id = :me AND t.tx_id IS NOT NULL AND t.record IS NOT NULL', { me: this.config.nodeId })
      if (q.state) qb.andWhere('t.state = :state', { state: q.state })
      if (q.type) qb.andWhere('t.key_type = :kt', { kt: q.type === 'segwit' ? 'ecdsa' : 'schnorr' })
      if (q.since) qb.andWhere('t.created_at >= :since', { since: q.since })
      if (q.externalId) qb.andWhere("t.record->>'externalId' = :ext", { ext: q.externalId })
      if (after) qb.andWhere('(t.created_at, t.tx_id) < (:ac, :ai)', { ac: new Date(after.createdAt), ai: after.id })
      return qb
        .orderBy('t.created_at', 'DESC')
        .addOrderBy('t.tx_id', 'DESC')
        .limit(q.limit + 1)
        .getMany()
    })
    const page = rows.slice(0, q.limit)
    const votes = await this.mirrorVotes(page.map((r) => r.txId!))
    const transactions = await Promise.all(page.map((r) => this.toDto(r.record as unknown as TxRecord, 0, votes.get(r.txId!) ?? [])))
    const last = page[page.length - 1]
    return { transactions, nextCursor: rows.length > q.limit && last ? encodeCursor(last.createdAt, last.txId!) : null }
  }

  /**
   * Finished transactions this node's history lacks while another node's row holds them: this
   * node was down while they ran and left etcd (the leader prunes once *its* mirror has a
   * record), or its mirror write failed. Copied into this node's history from the newest such
   * row (the votes it never saw stay absent), at most `limit` per call; returns how many. A
   * database per node has no other rows: nothing to copy.
   */
  async backfillHistory(limit: number): Promise<number> {
    const me = this.config.nodeId
    const rows = await this.db.read((em) =>
      em
        .getRepository(TransactionEntity)
        .createQueryBuilder('t')
        .distinctOn(['t.tx_id'])
        .where('t.node_id <> :me AND t.tx_id IS NOT NULL AND t.record IS NOT NULL AND t.state IN (:...done)', { me, done: TERMINAL_STATES })
        .andWhere('NOT EXISTS (SELECT 1 FROM transactions o WHERE o.tx_id = t.tx_id AND o.node_id = :me)', { me })
        .orderBy('t.tx_id')
        .addOrderBy('t.updated_at', 'DESC')
        .limit(limit)
        .getMany(),
    )
    if (rows.length === 0) return 0
    await this.db.transaction((em) =>
      em
        .getRepository(TransactionEntity)
        .createQueryBuilder()
        .insert()
        .values(rows.map((r) => ({ ...mirrorRowOf(r.record as unknown as TxRecord, me), updatedAt: r.updatedAt })))
        .orIgnore() // its own mirror got there first
        .execute(),
    )
    return rows.length
  }

  /** Transaction `txId` from this node's mirror (once it left etcd), with the votes this node recorded; null if none. */
  async fromMirror(txId: string): Promise<TransactionDto | null> {
    const row = await this.mirrorRow(txId)
    if (!row?.record) return null
    const votes = await this.mirrorVotes([txId])
    return this.toDto(row.record, 0, votes.get(txId) ?? [])
  }

  /** The signed votes this node recorded in PostgreSQL (`votes` of its voting round) per transaction id. */
  async mirrorVotes(txIds: string[]): Promise<Map<string, SignedVote[]>> {
    const out = new Map<string, SignedVote[]>()
    if (txIds.length === 0) return out
    const byRow = new Map(txIds.map((id) => [mirrorRowId(id, this.config.nodeId), id]))
    const rows = await this.db.read((em) =>
      em
        .getRepository(VoteEntity)
        .createQueryBuilder('v')
        .innerJoin(VotingRoundEntity, 'r', 'r.id = v.voting_round_id')
        .select(['v.payload AS payload', 'v.signature AS signature', 'r.transaction_id AS row_id'])
        .where('r.transaction_id IN (:...ids)', { ids: [...byRow.keys()] })
        .getRawMany<{ payload: string; signature: string; row_id: string }>(),
    )
    for (const r of rows) {
      const txId = byRow.get(r.row_id)
      if (!txId) continue
      try {
        out.set(txId, [...(out.get(txId) ?? []), { payload: JSON.parse(r.payload), signature: r.signature }])
      } catch {
        // an unreadable row is left out
      }
    }
    return out
  }

  /** Whether `vote` is signed by the node it names, for exactly `record`. */
  async voteValid(vote: SignedVote, record: Pick<TxRecord, 'id' | 'proposalHash'>): Promise<boolean> {
    if (vote.payload.txId !== record.id || vote.payload.proposalHash !== record.proposalHash) return false
    return this.identity.verify(vote.payload.nodeId, vote.payload, vote.signature)
  }

  /** The API's view of `record`; its votes from etcd unless given (`signed`: read from PostgreSQL). */
  async toDto(record: TxRecord, confirmations = 0, signed?: SignedVote[]): Promise<TransactionDto> {
    const votes: VoteDto[] = []
    for (const v of signed ?? (await this.votes(record.id))) {
      votes.push({
        nodeId: v.payload.nodeId,
        approve: v.payload.approve,
        reason: v.payload.reason,
        signatureValid: await this.voteValid(v, record),
        votedAt: v.payload.votedAt,
      })
    }
    votes.sort((a, b) => a.nodeId - b.nodeId)
    const psbtId = `${record.id}:${record.proposalHash}`
    let psbt = this.psbts.get(psbtId) ?? ''
    // Derivation data from this node's own key share, never from the key record in etcd.
    const key = psbt || !this.engine.isStarted ? null : this.engine.keyInfo(record.type === 'segwit' ? 'ecdsa' : 'schnorr', record.keyId)
    if (key) {
      try {
        psbt = toPsbt({
          txHex: record.unsignedTx,
          inputs: record.inputs.map((i) => ({ ...i, scriptPubKey: Buffer.from(i.scriptPubKey, 'hex'), keyType: record.type })),
          network: this.config.chain.network,
          keys: { [record.type]: { publicKey: Buffer.from(key.publicKey, 'hex'), chainCode: Buffer.from(key.chainCode, 'hex') } },
          changes: record.outputs.flatMap((o, index) => (o.change && o.path ? [{ index, keyType: record.type, path: o.path }] : [])),
        })
        // The proposal never changes (its hash is what votes sign): pollers get the PSBT built once.
        this.psbts.set(psbtId, psbt)
      } catch (err) {
        this.log.warn(`PSBT of ${record.id}: ${errorMessage(err)}`)
      }
    }
    return {
      id: record.id,
      requestId: record.requestId ?? null,
      state: record.state,
      type: record.type,
      keyId: record.keyId,
      to: record.to,
      amountSats: record.amountSats,
      recipients: paymentsOf(record).map((r) => ({ address: r.to, amountSats: r.amountSats })),
      memo: record.memo ?? null,
      externalId: record.externalId ?? null,
      replacement: record.replacement ?? null,
      replacedBy: record.replacedBy ?? null,
      consolidation: record.consolidation === true,
      feeSats: record.feeSats,
      feeRate: record.feeRate,
      vsize: record.vsize,
      inputs: record.inputs.map((i) => ({ txid: i.txid, vout: i.vout, valueSats: i.value, path: pathString(i.path) })),
      outputs: record.outputs.map((o) => ({ address: o.address, valueSats: o.value, change: o.change })),
      txid: record.txid,
      hex: record.signedTx,
      psbt,
      signers: record.signers,
      signingMode: record.signingMode,
      votes,
      confirmations,
      error: record.error,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      history: record.history,
    }
  }
}

/** Most links followed back through a chain of fee bumps. */
export const MAX_REPLACED = 25

/**
 * What `tx` replaces, and what that replaced in turn (a chain of fee bumps), nearest first, as
 * `get` reads them; the walk stops at a record it cannot read, at a loop, or after 25 links.
 */
export async function replacedChain(tx: Pick<TxRecord, 'id' | 'replacement'>, get: (id: string) => Promise<EtcdEntry<TxRecord> | null>): Promise<TxRecord[]> {
  const chain: TxRecord[] = []
  const seen = new Set([tx.id])
  for (let of = tx.replacement?.of; of && !seen.has(of) && chain.length < MAX_REPLACED;) {
    seen.add(of)
    const r = (await get(of))?.value
    if (!r) break
    chain.push(r)
    of = r.replacement?.of
  }
  return chain
}

/** `GET /api/v1/transactions` query (validated: api/schemas.ts). */
export interface HistoryQuery {
  state?: TransactionStateDto
  type?: WalletType
  since?: string
  externalId?: string
  limit: number
  cursor?: string
}
