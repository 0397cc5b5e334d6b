import { Inject, Injectable, Logger } from '@nestjs/common'
import type { ClusterRecoveryDto, RecoveredIndexDto, RecoveredKeyDto, RecoveredTxDto, TransactionStateDto, WalletType } from '@tw/api'
import { transactionId } from '@tw/bitcoin'
import { In } from 'typeorm'
import { AuditService } from '../audit/audit.service'
import { NodeIdentityService } from '../byzantine/identity.service'
import { ChainRejectedError } from '../chain/chain.client'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdKeys, EtcdRepository } from '../cluster/etcd.repository'
import { errorMessage, mapInBatches } from '../common/async'
import { ClusterUnavailableError } from '../common/errors'
import { Reconciler } from '../common/reconciler'
import { isSignedBy, unsigned } from '../common/signed'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { EngineRepository } from '../engine/engine.repository'
import type { KeyRecord } from '../keys/dkg.types'
import { TransactionEntity } from '../persistence/entities'
import { DatabaseRepository } from '../persistence/database.repository'
import { keyAgreement, lastUsedIndex, recoveredKeyRecord, resolveLost, UNFINISHED_STATES, type LostTxFacts, type ShareClaim } from './recovery'
import { firstSpentInput } from './tx-coordinator.service'
import { WalletService, type WalletKey } from './wallet.service'
import { mirrorRowOf } from './tx-store'
import { clusterNodeIds, WalletKeys, type TxRecord } from './wallet.types'

/** `/tw/n/<nodeId>/shares/<keyId>`: the node's signed statement of a key share it holds. */
export const shareClaimKey = (nodeId: number, keyId: string) => `/tw/n/${nodeId}/shares/${keyId}`
const shareClaimsOf = (nodeId: number) => `/tw/n/${nodeId}/shares/`

/** How often a node checks that its share statements are in etcd (they vanish with etcd). */
const CLAIM_EVERY_MS = 60_000
/** A send whose history changed this recently may be one being proposed right now: left for the next run. */
const SETTLE_MS = 30_000
/** Addresses read from the chain at once during the gap-limit scan. */
const SCAN_CONCURRENCY = 16
/** BIP44's gap: the scan never looks for fewer unused addresses in a row than this. */
const MIN_SCAN_GAP = 20

/** What recovery does not bring back (the operator's part; RUNBOOK "etcd lost"). */
const NOT_RECOVERED = [
  'bans: a node banned before is not banned now (its violations stay in the audit log and byzantine_violations; it is banned again on its next proven one)',
  'webhook subscriptions: add them again (threshold-wallet webhooks add)',
  'the revocation of the bootstrap admin token (tokens made with tokens create keep theirs)',
  'presignatures: each node\u2019s unused ones are never used again; the pool fills anew',
]

/**
 * Rebuilds what the cluster keeps in etcd after etcd lost it (issue 16 item 7), from what
 * outlives etcd: each node's keystore, the PostgreSQL history and the chain.
 *
 * - **Keys.** Every node publishes a signed statement of each share it holds
 *   (`/tw/n/<id>/shares/<keyId>`: public key, chain code; at start and every minute). A key
 *   with no `/tw/keys/` record is registered again (create-if-absent) only when every node's
 *   verified statement says the same; the wallet still takes every address from its own share.
 * - **Address indexes.** Raised (never lowered) past the last address the chain shows a
 *   transaction for (gap-limit scan from index 0), the last index a send in the history spent
 *   from or paid change to, and the last one the audit log says was handed out
 *   (`address.issued`): no address is handed out twice, every coin is found again.
 * - **Unfinished sends** in the history whose record etcd no longer holds are resolved against
 *   the chain ({@link resolveLost}); a signed copy the chain does not have yet is broadcast again.
 *   Every node's history row of the send is updated (one shared database).
 *
 * `dryRun` reports the same and writes nothing. Idempotent: a second run finds nothing to do.
 */
@Injectable()
export class RecoveryService {
  private readonly log = new Logger('Recovery')
  private readonly claims: Reconciler

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly engine: EngineRepository,
    private readonly identity: NodeIdentityService,
    private readonly wallet: WalletService,
    private readonly db: DatabaseRepository,
    private readonly audit: AuditService,
  ) {
    this.claims = new Reconciler('ShareClaims', CLAIM_EVERY_MS, async () => {
      await this.publishClaims()
    })
  }

  start(): void {
    this.claims.start()
  }

  stop(): Promise<void> {
    return this.claims.stop()
  }

  /** Publishes this node's statement of every share it holds whose statement etcd lacks (or holds altered). */
  async publishClaims(): Promise<number> {
    if (!this.engine.isStarted || !this.cluster.etcdHealthy) return 0
    const ids = this.engine.keyIds()
    const published = new Map((await this.etcd.getPrefix<ShareClaim>(shareClaimsOf(this.config.nodeId))).map((e) => [e.key, e.value]))
    let written = 0
    for (const [protocol, keyIds] of [['ecdsa', ids.ecdsa] as const, ['schnorr', ids.frost] as const]) {
      for (const keyId of keyIds) {
        const share = this.engine.keyInfo(protocol, keyId)
        if (!share) continue
        const body: Omit<ShareClaim, 'signature'> = {
          keyId,
          protocol,
          publicKey: share.publicKey,
          chainCode: share.chainCode,
          outputKey: share.outputKey ?? null,
          nodeId: this.config.nodeId,
        }
        const k = shareClaimKey(this.config.nodeId, keyId)
        const cur = published.get(k)
        if (cur && JSON.stringify(unsigned(cur)) === JSON.stringify(body)) continue
        await this.etcd.put(k, { ...body, signature: this.identity.sign(body) })
        written++
      }
    }
    if (written) this.log.log(`published ${written} share statement(s)`)
    return written
  }

  async recover(dryRun: boolean): Promise<ClusterRecoveryDto> {
    if (!this.cluster.etcdHealthy) throw new ClusterUnavailableError('etcd unavailable', { dependency: 'etcd', reason: this.cluster.etcdLastError })
    await this.publishClaims()
    const keys = await this.recoverKeys(dryRun)
    const addresses = await this.recoverIndexes(keys, dryRun)
    const labels = await this.recoverLabels(keys, dryRun)
    const transactions = await this.resolveLostSends(dryRun)
    const out: ClusterRecoveryDto = { dryRun, nodeId: this.config.nodeId, keys, addresses, labels, transactions, notRecovered: NOT_RECOVERED }
    if (!dryRun) {
      const count = (xs: { action: string }[], a: string) => xs.filter((x) => x.action === a).length
      const raised = addresses.filter((a) => a.after > a.before).length
      this.log.log(`cluster recover: ${count(keys, 'registered')} key(s) registered, ${raised} address index(es) raised, ${count(transactions, 'resolved')} send(s) resolved`)
      await this.audit.record(
        'cluster.recovered',
        {
          keys: keys.filter((k) => k.action === 'registered').map((k) => k.keyId),
          raised: addresses.filter((a) => a.after > a.before),
          transactions: transactions.filter((t) => t.action === 'resolved').map((t) => `${t.id}:${t.to}`),
        },
        'api',
      )
    }
    return out
  }

  // ------------------------------------------------------------------ keys

  private async verifiedClaims(): Promise<ShareClaim[]> {
    const out: ShareClaim[] = []
    for (const n of clusterNodeIds(this.config.clusterSize)) {
      for (const e of await this.etcd.getPrefix<ShareClaim>(shareClaimsOf(n))) {
        const c = e.value
        // Only the node itself writes its partition (etcd ACL); its signature is checked anyway.
        if (c?.nodeId !== n || e.key !== shareClaimKey(n, c.keyId)) continue
        if (await isSignedBy(c, n, (id, payload, sig) => this.identity.verify(id, payload, sig))) out.push(c)
        else this.log.warn(`share statement ${e.key} is not signed by node ${n}: ignored`)
      }
    }
    return out
  }

  private async recoverKeys(dryRun: boolean): Promise<RecoveredKeyDto[]> {
    const present = new Map((await this.etcd.getPrefix<KeyRecord>(EtcdKeys.keys)).map((e) => [e.value.keyId, e.value]))
    const out: RecoveredKeyDto[] = []
    for (const a of keyAgreement(await this.verifiedClaims(), clusterNodeIds(this.config.clusterSize))) {
      const base = { keyId: a.keyId, protocol: a.protocol, publicKey: a.agreed?.publicKey ?? null, claimedBy: a.claimedBy }
      if (present.has(a.keyId)) {
        out.push({ ...base, publicKey: present.get(a.keyId)!.publicKey, action: 'present', reason: null })
        continue
      }
      if (!a.agreed) {
        out.push({ ...base, action: 'refused', reason: a.problem })
        continue
      }
      if (dryRun) {
        out.push({ ...base, action: 'would_register', reason: null })
        continue
      }
      const record = recoveredKeyRecord(a.agreed, a.claimedBy, new Date().toISOString())
      const created = await this.etcd.putIfAbsent(EtcdKeys.key(a.keyId), record)
      out.push({ ...base, action: created ? 'registered' : 'present', reason: null })
      if (created) {
        this.log.log(`key ${a.keyId} (${a.protocol}) registered again from the shares of nodes ${a.claimedBy.join(', ')}`)
        await this.audit.record('key.recovered', { keyId: a.keyId, protocol: a.protocol, publicKey: a.agreed.publicKey, claimedBy: a.claimedBy }, 'api')
      }
    }
    return out
  }

  // ------------------------------------------------------------------ address indexes

  private async recoverIndexes(keys: RecoveredKeyDto[], dryRun: boolean): Promise<RecoveredIndexDto[]> {
    const usable = keys.filter((k) => k.action !== 'refused')
    if (usable.length === 0) return []
    const chain = this.wallet.chain()
    const issued = await this.issuedIndexes()
    const gap = Math.max(MIN_SCAN_GAP, this.config.addressGapLimit)
    const out: RecoveredIndexDto[] = []
    for (const k of usable) {
      const share = this.engine.keyInfo(k.protocol, k.keyId)
      if (!share) continue
      const type: WalletType = k.protocol === 'ecdsa' ? 'segwit' : 'taproot'
      const key: WalletKey = { keyId: k.keyId, type, publicKey: Buffer.from(share.publicKey, 'hex'), chainCode: Buffer.from(share.chainCode, 'hex') }
      const fromSends = await this.historyIndexes(k.keyId)
      const inHistory = [0, 1].map((c) => maxOrNull(fromSends[c], issued.get(`${k.keyId}/${c}`) ?? null))
      for (const c of [0, 1] as const) {
        const used = (indexes: number[]) => mapInBatches(indexes, SCAN_CONCURRENCY, async (i) => (await chain.addressStats(this.wallet.derive(key, [c, i]).address)).txCount > 0)
        const lastUsedOnChain = await lastUsedIndex(used, gap)
        const entry = await this.etcd.get<{ next: number }>(WalletKeys.addressIndex(k.keyId, c))
        const before = entry?.value.next ?? 0
        const after = Math.max(before, (lastUsedOnChain ?? -1) + 1, (inHistory[c] ?? -1) + 1)
        if (after > before && !dryRun) {
          const k2 = WalletKeys.addressIndex(k.keyId, c)
          const ok = await this.etcd.atomic(entry ? { unchanged: [[k2, entry.modRevision]], puts: [[k2, { next: after }]] } : { absent: [k2], puts: [[k2, { next: after }]] })
          // Someone took an index meanwhile: the next run raises it from there.
          if (!ok) throw new ClusterUnavailableError(`address index of ${k.keyId} changed during recovery: run it again`)
        }
        out.push({ keyId: k.keyId, type, chain: c === 0 ? 'receive' : 'change', before, after, lastUsedOnChain, lastInHistory: inHistory[c] })
      }
    }
    return out
  }

  /** The highest index the audit log says was handed out, per `<keyId>/<chain>` (`address.issued`, any node). */
  private async issuedIndexes(): Promise<Map<string, number>> {
    const rows: { k: string; top: string | number }[] = await this.db.read((em) =>
      em.query("SELECT (details->>'keyId') || '/' || (details->>'chain') AS k, max((details->>'index')::int) AS top FROM audit_log WHERE action = 'address.issued' GROUP BY 1"),
    )
    return new Map(rows.filter((r) => r.k).map((r) => [r.k, Number(r.top)]))
  }

  /** Address labels etcd lost, from the audit log (`address.issued` with a label): how many were (or would be) put back. */
  private async recoverLabels(keys: RecoveredKeyDto[], dryRun: boolean): Promise<number> {
    const keyIds = keys.filter((k) => k.action !== 'refused').map((k) => k.keyId)
    if (keyIds.length === 0) return 0
    const rows: { keyId: string; chain: number; index: number; label: string; at: Date }[] = await this.db.read((em) =>
      em.query(
        "SELECT details->>'keyId' AS \"keyId\", (details->>'chain')::int AS chain, (details->>'index')::int AS index, details->>'label' AS label, created_at AS at FROM audit_log WHERE action = 'address.issued' AND details->>'label' IS NOT NULL AND details->>'keyId' = ANY($1) ORDER BY id",
        [keyIds],
      ),
    )
    let restored = 0
    for (const r of rows) {
      if (r.chain !== 0 && r.chain !== 1) continue
      const k = WalletKeys.addressLabel(r.keyId, r.chain, r.index)
      if (await this.etcd.get(k)) continue
      if (!dryRun && !(await this.etcd.putIfAbsent(k, { label: r.label, at: new Date(r.at).toISOString() }))) continue
      restored++
    }
    return restored
  }

  /**
   * The highest index on each chain (receive 0, change 1) that a send of `keyId` in any node's
   * history spent from or paid change to (one query: a year of history is not read into memory).
   */
  private async historyIndexes(keyId: string): Promise<[number | null, number | null]> {
    const rows: { chain: number; top: number }[] = await this.db.read((em) =>
      em.query(
        `SELECT (p->>0)::int AS chain, max((p->>1)::int) AS top
           FROM transactions t,
                LATERAL (SELECT i->'path' AS p FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.record->'inputs') = 'array' THEN t.record->'inputs' ELSE '[]'::jsonb END) i
                         UNION ALL
                         SELECT o->'path' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.record->'outputs') = 'array' THEN t.record->'outputs' ELSE '[]'::jsonb END) o) x
          WHERE t.key_id = $1
            AND CASE WHEN jsonb_typeof(p) = 'array' THEN jsonb_array_length(p) = 2 AND p->>0 IN ('0', '1') AND jsonb_typeof(p->1) = 'number' ELSE false END
          GROUP BY 1`,
        [keyId],
      ),
    )
    const top: [number | null, number | null] = [null, null]
    for (const r of rows) top[Number(r.chain) as 0 | 1] = Number(r.top)
    return top
  }

  // ------------------------------------------------------------------ unfinished sends

  private async resolveLostSends(dryRun: boolean): Promise<RecoveredTxDto[]> {
    const unfinished = await this.db.read((em) => em.getRepository(TransactionEntity).find({ where: { state: In(UNFINISHED_STATES) }, select: { txId: true } }))
    const ids = [...new Set(unfinished.map((r) => r.txId).filter((id): id is string => !!id))].sort()
    const out: RecoveredTxDto[] = []
    for (const id of ids) {
      if (await this.etcd.get(WalletKeys.tx(id))) continue // etcd still has it: the cluster carries it on
      const rows = await this.db.read((em) => em.getRepository(TransactionEntity).find({ where: { txId: id } }))
      const withRecord = rows.filter((r) => r.record)
      const newest = withRecord.sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime())[0]
      if (!newest) continue
      const record = newest.record as unknown as TxRecord
      const from = UNFINISHED_STATES.includes(record.state) ? record.state : (rows.find((r) => UNFINISHED_STATES.includes(r.state))?.state ?? record.state)
      let txid: string
      try {
        txid = transactionId(record.unsignedTx)
      } catch (err) {
        out.push({ id, txid: null, from, to: from, code: null, message: `its unsigned transaction does not parse (${errorMessage(err)}); left as it is`, action: 'unresolved' })
        continue
      }
      if (Date.now() - newest.updatedAt.getTime() < SETTLE_MS) {
        out.push({ id, txid, from, to: from, code: null, message: 'changed in the last 30 s: left for the next run', action: 'unresolved' })
        continue
      }
      const signed = rows.map((r) => r.signedTx).find((hex): hex is string => !!hex && safeTxid(hex) === txid) ?? null
      const facts = await this.chainFacts(record, txid, signed, dryRun)
      const r = resolveLost({ id, state: from }, txid, facts)
      if (r.to === from) {
        out.push({ ...r, action: 'unresolved' })
        continue
      }
      if (dryRun) {
        out.push({ ...r, action: 'would_resolve' })
        continue
      }
      await this.writeResolution(rows, record, r.to, r.code ? { code: r.code, message: r.message } : null, txid, signed)
      this.log.log(`send ${id} (lost with etcd while ${from}) resolved: ${r.to}${r.code ? ` ${r.code}` : ''} (${r.message})`)
      await this.audit.record('tx.recovered', { txId: id, txid, from, to: r.to, code: r.code, message: r.message }, 'api')
      out.push({ ...r, action: 'resolved' })
    }
    return out
  }

  private async chainFacts(record: TxRecord, txid: string, signed: string | null, dryRun: boolean): Promise<LostTxFacts> {
    const chain = this.wallet.chain()
    const status = await chain.txStatus(txid)
    const facts: LostTxFacts = {
      status: status.confirmed ? 'confirmed' : status.found ? 'mempool' : 'unknown',
      signedCopy: signed !== null,
      rebroadcastRefused: null,
      inputSpentElsewhere: false,
    }
    if (facts.status !== 'unknown') return facts
    // (Spent by this very transaction would have put it on the chain above.)
    const spent = await firstSpentInput(chain, record.inputs ?? [])
    facts.inputSpentElsewhere = spent !== null && spent.spender !== txid
    if (signed && !facts.inputSpentElsewhere && !dryRun) {
      try {
        await chain.broadcast(signed)
      } catch (err) {
        if (!(err instanceof ChainRejectedError)) throw err
        if (!err.alreadyKnown) facts.rebroadcastRefused = err.reason
      }
    }
    return facts
  }

  /**
   * Every node's history row of the send, to `state` (with the error and a history entry). A
   * node that was down while the send was proposed has no row: it gets one, from the newest
   * record, so its history and `tx show` tell the same as the others'.
   */
  private async writeResolution(
    rows: TransactionEntity[],
    newest: TxRecord,
    state: TransactionStateDto,
    error: { code: string; message: string } | null,
    txid: string,
    signed: string | null,
  ): Promise<void> {
    const at = new Date()
    const resolved = (record: TxRecord): TxRecord => ({
      ...record,
      state,
      txid,
      signedTx: record.signedTx ?? signed,
      error: error ?? record.error,
      updatedAt: at.toISOString(),
      history: [...(record.history ?? []), { state, at: at.toISOString() }],
    })
    await this.db.transaction(async (em) => {
      const repo = em.getRepository(TransactionEntity)
      for (const row of rows) {
        const record = (row.record as unknown as TxRecord | null) ?? null
        await repo.update(
          { id: row.id },
          {
            state,
            txid,
            signedTx: row.signedTx ?? signed,
            error: error ? `${error.code}: ${error.message}` : row.error,
            record: (record ? resolved(record) : null) as never,
            updatedAt: at,
          },
        )
      }
      const missing = clusterNodeIds(this.config.clusterSize).filter((n) => !rows.some((r) => r.nodeId === n))
      if (missing.length) {
        const record = resolved(newest)
        await repo.insert(missing.map((n) => ({ ...mirrorRowOf(record, n), updatedAt: at })))
      }
    })
  }
}

function maxOrNull(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b)
}

function safeTxid(hex: string): string | null {
  try {
    return transactionId(hex)
  } catch {
    return null
  }
}
