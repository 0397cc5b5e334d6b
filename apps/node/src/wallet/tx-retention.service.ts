import { Inject, Injectable, Logger } from '@nestjs/common'
import { errorMessage } from '../common/async'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdRepository, type EtcdEntry } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { TxStore } from './tx-store'
import { TERMINAL_STATES, WalletKeys, type IdempotencyRecord, type PresigRecord, type SigningAttempt, type TxRecord } from './wallet.types'

/** How often the retention runs (every node; the leader's part only while it leads). */
const RUN_EVERY_MS = 60_000
/** At most this many transactions (and as many idempotency/presignature records) leave etcd per run. */
const LEADER_BATCH = 100
/** At most this many keys of this node's partition are deleted per run. */
const PARTITION_BATCH = 500
/** Idempotency-Key records outlive their transaction's etcd record this many times the retention. */
export const IDEMPOTENCY_RETENTION_FACTOR = 7

/** What one run removed. */
export interface RetentionRun {
  transactions: number
  idempotency: number
  presignatures: number
  partition: number
}

/**
 * Keeps etcd small (issue 14): a finished transaction (confirmed, rejected, failed, expired)
 * whose last change is older than `TW_TX_RETENTION_S` leaves etcd, its history staying in each
 * node's PostgreSQL mirror.
 *
 * - The leader (every delete fenced on its term) removes `/tw/tx/<id>`, its signing attempts
 *   and the used/burned presignature records they name, but only once its own mirror row
 *   holds that final state (read back; PostgreSQL down: nothing is pruned), and never while
 *   the transaction still holds coin locks (a `failed CHAIN_REJECTED` one keeps them: its
 *   signed version may still confirm). Idempotency-Key records go 7 × the retention after
 *   their transaction; burned presignature jobs no transaction used go after the retention.
 * - Every node removes its own partition's keys (only it may write there): votes and signing
 *   results of transactions no longer in etcd (or finished twice the retention ago, lock-free
 *   and in its own mirror: a leader that cannot prune does not hold every partition up), and
 *   presignature results of presignature records no longer in etcd.
 *
 * Each run is bounded ({@link LEADER_BATCH}, {@link PARTITION_BATCH}); a backlog drains over
 * several minutes. Reads are paged (never a whole prefix in one answer).
 */
@Injectable()
export class TxRetentionService {
  private readonly log = new Logger('TxRetention')
  private timer: NodeJS.Timeout | null = null
  private running: Promise<unknown> | null = null

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly store: TxStore,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      if (this.running) return
      this.running = this.run()
        .catch((err) => this.log.warn(`retention run: ${errorMessage(err)}`))
        .finally(() => (this.running = null))
    }, RUN_EVERY_MS)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.running
  }

  /** One run: the leader's part (if this node leads), then this node's partition. */
  async run(now = Date.now()): Promise<RetentionRun> {
    const term = this.cluster.isLeader ? this.cluster.leaderTerm : null
    const out: RetentionRun = { transactions: 0, idempotency: 0, presignatures: 0, partition: 0 }
    if (term) Object.assign(out, await this.pruneFinished(term, now))
    out.partition = await this.pruneOwnPartition(now)
    if (out.transactions + out.idempotency + out.presignatures + out.partition > 0) {
      this.log.log(`pruned from etcd: ${out.transactions} transaction(s), ${out.idempotency} idempotency record(s), ${out.presignatures} presignature record(s), ${out.partition} key(s) of this node's partition`)
    }
    return out
  }

  private get retentionMs(): number {
    return this.config.txRetentionS * 1000
  }

  /** Finished, and last changed longer ago than the retention. */
  private finishedPast(tx: TxRecord, now: number): boolean {
    return TERMINAL_STATES.includes(tx.state) && now - Date.parse(tx.updatedAt) > this.retentionMs
  }

  /** Whether any coin lock still names `tx` (then nothing of it is pruned). */
  private async holdsLocks(tx: TxRecord): Promise<boolean> {
    for (const i of tx.inputs) {
      const lock = await this.etcd.get<{ txId?: string }>(WalletKeys.utxoLock(i.txid, i.vout))
      if (lock && (lock.value?.txId === undefined || lock.value.txId === tx.id)) return true
    }
    return false
  }

  /**
   * Whether this node's PostgreSQL mirror holds `tx` in its final state. Throws when
   * PostgreSQL cannot be read. A row behind is mirrored again (picked up next run).
   */
  private async mirroredFinal(tx: TxRecord): Promise<boolean> {
    const row = await this.store.mirrorRow(tx.id)
    if (row && row.state === tx.state && row.record) return true
    void this.store.mirror(tx)
    return false
  }

  // ------------------------------------------------------------------ the leader's part

  private async pruneFinished(term: string, now: number): Promise<Omit<RetentionRun, 'partition'>> {
    const out = { transactions: 0, idempotency: 0, presignatures: 0 }
    try {
      out.transactions = await this.pruneTransactions(term, now)
      out.idempotency = await this.pruneIdempotency(term, now)
      out.presignatures = await this.pruneUnusedPresignatures(term, now)
    } catch (err) {
      // PostgreSQL (or etcd) unreachable: what was not deleted yet stays for the next run.
      this.log.warn(`pruning finished transactions stopped: ${errorMessage(err)}`)
    }
    return out
  }

  private async pruneTransactions(term: string, now: number): Promise<number> {
    let pruned = 0
    for await (const page of this.store.pages()) {
      for (const e of page) {
        if (pruned >= LEADER_BATCH) return pruned
        const tx = e.value
        if (!this.finishedPast(tx, now) || (await this.holdsLocks(tx))) continue
        if (!(await this.mirroredFinal(tx))) continue
        const attempts = await this.etcd.getPrefix<SigningAttempt>(`${WalletKeys.attemptsAll}${tx.id}/`)
        const presigIds = [...new Set(attempts.flatMap((a) => a.value.presignatures ?? []).filter((p): p is string => Boolean(p)))]
        const presigs: EtcdEntry<PresigRecord>[] = []
        for (const id of presigIds) {
          const p = await this.etcd.get<PresigRecord>(WalletKeys.presig(id))
          if (p && (p.value.status === 'used' || p.value.status === 'burned') && p.value.txId === tx.id) presigs.push(p)
        }
        const ok = await this.etcd.fencedTxn(term, {
          unchanged: [[e.key, e.modRevision], ...presigs.map((p): [string, string] => [p.key, p.modRevision])],
          deletes: [e.key, WalletKeys.active(tx.id), ...attempts.map((a) => a.key), ...presigs.map((p) => p.key)],
        })
        if (ok) pruned++
        else if (this.cluster.leaderTerm !== term) return pruned
      }
    }
    return pruned
  }

  /**
   * Idempotency-Key records whose transaction left etcd more than 7 × the retention ago (its
   * mirror row says when it last changed); claims that never committed, as long after their
   * expiry. A record whose transaction has no mirror row here stays.
   */
  private async pruneIdempotency(term: string, now: number): Promise<number> {
    const keep = IDEMPOTENCY_RETENTION_FACTOR * this.retentionMs
    let pruned = 0
    for await (const page of this.etcd.getPrefixPaged<IdempotencyRecord & { state?: string; expiresAt?: string }>(`/tw/idempotency/`)) {
      for (const e of page) {
        if (pruned >= LEADER_BATCH) return pruned
        const rec = e.value
        if (await this.store.get(rec.txId)) continue
        let due: boolean
        if (rec.state === 'claimed') due = now - Date.parse(rec.expiresAt ?? '') > keep
        else {
          const row = await this.store.mirrorRow(rec.txId)
          const last = row?.record ? Date.parse(row.record.updatedAt) : NaN
          due = row !== null && TERMINAL_STATES.includes(row.state) && now - last > keep
        }
        if (!due) continue
        if (await this.etcd.fencedTxn(term, { unchanged: [[e.key, e.modRevision]], deletes: [e.key] })) pruned++
      }
    }
    return pruned
  }

  /** Burned presignature jobs that no transaction used (a failed generation), past the retention. */
  private async pruneUnusedPresignatures(term: string, now: number): Promise<number> {
    let pruned = 0
    for await (const page of this.etcd.getPrefixPaged<PresigRecord>(WalletKeys.presigs)) {
      for (const e of page) {
        if (pruned >= LEADER_BATCH) return pruned
        const p = e.value
        if (p.status !== 'burned' || p.txId !== null || now - Date.parse(p.createdAt) <= this.retentionMs) continue
        if (await this.etcd.fencedTxn(term, { unchanged: [[e.key, e.modRevision]], deletes: [e.key] })) pruned++
      }
    }
    return pruned
  }

  // ------------------------------------------------------------------ every node's part

  /** This node's votes, signing results and presignature results whose subject left etcd (or finished past the retention). */
  private async pruneOwnPartition(now: number): Promise<number> {
    const me = this.config.nodeId
    let deleted = 0
    const drop = async (e: EtcdEntry<unknown>): Promise<boolean> => {
      if (deleted >= PARTITION_BATCH) return false
      // Only if unchanged since read (compare-and-delete in its own partition).
      if (await this.etcd.atomic({ unchanged: [[e.key, e.modRevision]], deletes: [e.key] })) deleted++
      return true
    }
    const verdicts = new Map<string, boolean>()
    const txGone = async (id: string): Promise<boolean> => {
      let v = verdicts.get(id)
      if (v === undefined) {
        const tx = (await this.store.get(id))?.value
        // Gone from etcd (the leader pruned it); or still there a whole retention after it was
        // due (the leader cannot prune it: its PostgreSQL is down, say), lock-free and in this
        // node's own mirror: its record then shows no votes, the mirror has this node's.
        v = !tx || (this.finishedPast(tx, now - this.retentionMs) && !(await this.holdsLocks(tx)) && (await this.mirroredFinal(tx).catch(() => false)))
        verdicts.set(id, v)
      }
      return v
    }
    try {
      for (const kind of ['votes', 'results'] as const) {
        const prefix = `${WalletKeys.partitions}${me}/${kind}/`
        for await (const page of this.etcd.getPrefixPaged<unknown>(prefix)) {
          for (const e of page) {
            const id = e.key.slice(prefix.length).split('/')[0]
            if ((await txGone(id)) && !(await drop(e))) return deleted
          }
        }
      }
      const prefix = `${WalletKeys.partitions}${me}/presig-results/`
      for await (const page of this.etcd.getPrefixPaged<unknown>(prefix)) {
        for (const e of page) {
          const id = e.key.slice(prefix.length).split('/')[0]
          if (!(await this.etcd.get(WalletKeys.presig(id))) && !(await drop(e))) return deleted
        }
      }
    } catch (err) {
      this.log.warn(`pruning this node's partition stopped: ${errorMessage(err)}`)
    }
    return deleted
  }
}
