import { Inject, Injectable, Logger } from '@nestjs/common'
import { errorMessage } from '../common/async'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdRepository, type EtcdEntry } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { MetricsService } from '../metrics/metrics.service'
import { TxStore } from './tx-store'
import { TERMINAL_STATES, WalletKeys, type IdempotencyRecord, type PresigRecord, type SigningAttempt, type TxRecord } from './wallet.types'

/** How often the retention runs (every node; the leader's part only while it leads). */
const RUN_EVERY_MS = 60_000
/** The pause before the next run while a backlog drains (the last run filled a batch). */
const DRAIN_EVERY_MS = 2_000
/** At most this many transactions (and as many idempotency/presignature records) leave etcd per run. */
export const LEADER_BATCH = 500
/** At most this many keys of this node's partition are deleted per run. */
export const PARTITION_BATCH = 2_000
/** Partition keys deleted per etcd transaction (each compared unchanged since read). */
export const DELETE_BATCH = 100
/** A pass stops after this many failures in a row (etcd or PostgreSQL is down, not one bad record). */
const MAX_ERRORS_IN_A_ROW = 5
/** Finished transactions copied into this node's history per run at most (from another node's row). */
export const BACKFILL_BATCH = 500
/** How often this node looks for history it missed (and at its first run after a start). */
const BACKFILL_EVERY_MS = 3600_000

/** Idempotency-Key records outlive their transaction's etcd record this many times the retention. */
export const IDEMPOTENCY_RETENTION_FACTOR = 7

/** Deleting one finished transaction: the keys, and those that must be unchanged since they were read. */
interface PrunePlan {
  unchanged: [string, string][]
  deletes: string[]
}

/** What one run removed. */
export interface RetentionRun {
  transactions: number
  idempotency: number
  presignatures: number
  partition: number
  /** Finished transactions this node's history lacked, copied from another node's row. */
  backfilled: number
  /** Records left for a later run after an error on them (a timeout, say), the pass going on past them. */
  skipped: number
  /** A batch was full: the next run follows in {@link DRAIN_EVERY_MS}, not a minute. */
  more: boolean
}

/**
 * Failures while a pass walks its records: one record's error (an etcd timeout under load)
 * skips that record and the pass goes on; {@link MAX_ERRORS_IN_A_ROW} in a row end the pass.
 */
class PassErrors {
  skipped = 0
  private inARow = 0
  /** Runs one record's step; its error is counted (rethrown once too many came in a row). */
  async step<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      const out = await fn()
      this.inARow = 0
      return out
    } catch (err) {
      this.skipped++
      if (++this.inARow >= MAX_ERRORS_IN_A_ROW) throw err
      return undefined
    }
  }
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
 * Each run is bounded ({@link LEADER_BATCH}, {@link PARTITION_BATCH}); a run that filled a batch
 * is followed by the next one within seconds, so a backlog drains at etcd's pace, not one batch
 * a minute. One record's error (an etcd timeout) skips that record, not the rest of the pass;
 * {@link MAX_ERRORS_IN_A_ROW} in a row end it. Reads are paged (never a whole prefix in one answer).
 */
@Injectable()
export class TxRetentionService {
  private readonly log = new Logger('TxRetention')
  private timer: NodeJS.Timeout | null = null
  private running: Promise<unknown> | null = null
  private stopped = true
  /** When this node last looked for history it missed (0: not since its start). */
  private backfilledAt = 0

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly store: TxStore,
    private readonly metrics: MetricsService,
  ) {}

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.schedule(RUN_EVERY_MS)
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.running = this.run()
        .then(
          (out) => (out.more ? DRAIN_EVERY_MS : RUN_EVERY_MS),
          (err) => {
            this.log.warn(`retention run: ${errorMessage(err)}`)
            return RUN_EVERY_MS
          },
        )
        .then((next) => {
          this.running = null
          if (!this.stopped) this.schedule(next)
        })
    }, ms)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.running
  }

  /** One run: the leader's part (if this node leads), then this node's partition. */
  async run(now = Date.now()): Promise<RetentionRun> {
    const term = this.cluster.isLeader ? this.cluster.leaderTerm : null
    const errors = new PassErrors()
    const out: RetentionRun = { transactions: 0, idempotency: 0, presignatures: 0, partition: 0, backfilled: 0, skipped: 0, more: false }
    if (term) Object.assign(out, await this.pruneFinished(term, now, errors))
    out.partition = await this.pruneOwnPartition(now, errors)
    out.backfilled = await this.backfill(now)
    out.skipped = errors.skipped
    out.more = Math.max(out.transactions, out.idempotency, out.presignatures) >= LEADER_BATCH || out.partition >= PARTITION_BATCH || out.backfilled >= BACKFILL_BATCH
    if (out.transactions + out.idempotency + out.presignatures + out.partition > 0) {
      this.log.log(
        `pruned from etcd: ${out.transactions} transaction(s), ${out.idempotency} idempotency record(s), ${out.presignatures} presignature record(s), ${out.partition} key(s) of this node's partition${out.more ? '; more to prune, next run in seconds' : ''}`,
      )
    }
    if (out.backfilled > 0)
      this.log.log(`copied ${out.backfilled} finished transaction(s) this node missed into its history${out.backfilled >= BACKFILL_BATCH ? '; more next run' : ''}`)
    for (const kind of ['transactions', 'idempotency', 'presignatures', 'partition'] as const) if (out[kind] > 0) this.metrics.retentionPruned.inc({ kind }, out[kind])
    if (out.skipped > 0) this.metrics.retentionSkipped.inc(out.skipped)
    if (out.skipped > 0) this.log.warn(`retention: ${out.skipped} record(s) skipped after an error, left for a later run`)
    return out
  }

  /**
   * This node's history gaps (see TxStore.backfillHistory): at its first run after a start,
   * then hourly, and at once again while a batch comes back full. PostgreSQL down: next time.
   */
  private async backfill(now: number): Promise<number> {
    if (this.backfilledAt !== 0 && now - this.backfilledAt < BACKFILL_EVERY_MS) return 0
    try {
      const n = await this.store.backfillHistory(BACKFILL_BATCH)
      this.backfilledAt = n >= BACKFILL_BATCH ? 0 : now
      return n
    } catch (err) {
      this.log.warn(`looking for history this node missed: ${errorMessage(err)}`)
      return 0
    }
  }

  private get retentionMs(): number {
    return this.config.txRetentionS * 1000
  }

  /** Finished, and last changed longer ago than the retention. */
  private finishedPast(tx: TxRecord, now: number): boolean {
    return TERMINAL_STATES.includes(tx.state) && now - Date.parse(tx.updatedAt) > this.retentionMs
  }

  /** Every coin lock: outpoint → the transaction it names (undefined: a lock naming none). One paged read per run. */
  private async lockedOutpoints(): Promise<Map<string, string | undefined>> {
    const out = new Map<string, string | undefined>()
    for await (const page of this.etcd.getPrefixPaged<{ txId?: string }>(WalletKeys.utxoLocks)) {
      for (const e of page) out.set(e.key.slice(WalletKeys.utxoLocks.length), e.value?.txId)
    }
    return out
  }

  /** Whether any coin lock still names `tx` (then nothing of it is pruned). */
  private holdsLocks(tx: TxRecord, locks: Map<string, string | undefined>): boolean {
    return tx.inputs.some((i) => {
      const k = `${i.txid}:${i.vout}`
      return locks.has(k) && (locks.get(k) === undefined || locks.get(k) === tx.id)
    })
  }

  /**
   * Which of `txs` this node's PostgreSQL mirror holds in their final state (one query).
   * Throws when PostgreSQL cannot be read. A row behind is mirrored again (picked up next run).
   */
  private async mirroredFinal(txs: TxRecord[]): Promise<Set<string>> {
    const rows = await this.store.mirrorStates(txs.map((t) => t.id))
    const out = new Set<string>()
    for (const tx of txs) {
      const row = rows.get(tx.id)
      if (row && row.state === tx.state && row.hasRecord) out.add(tx.id)
      else void this.store.mirror(tx)
    }
    return out
  }

  // ------------------------------------------------------------------ the leader's part

  private async pruneFinished(term: string, now: number, errors: PassErrors): Promise<Pick<RetentionRun, 'transactions' | 'idempotency' | 'presignatures'>> {
    const out = { transactions: 0, idempotency: 0, presignatures: 0 }
    try {
      out.transactions = await this.pruneTransactions(term, now, errors)
      out.idempotency = await this.pruneIdempotency(term, now, errors)
      out.presignatures = await this.pruneUnusedPresignatures(term, now, errors)
    } catch (err) {
      // PostgreSQL (or etcd) unreachable: what was not deleted yet stays for the next run.
      this.log.warn(`pruning finished transactions stopped: ${errorMessage(err)}`)
    }
    return out
  }

  /**
   * Finished transactions past the retention leave etcd, planned one by one (reads only) and
   * deleted {@link DELETE_BATCH} keys to a fenced etcd transaction: a write costs a Raft round
   * and an fsync on a majority of members, the reads do not (the soak found one write per
   * transaction draining ~100 a minute). A group whose transaction fails (one record changed
   * since it was read) is retried one transaction at a time.
   */
  private async pruneTransactions(term: string, now: number, errors: PassErrors): Promise<number> {
    let pruned = 0
    let planned = 0
    const group: PrunePlan[] = []
    let groupKeys = 0
    let deposed = false
    const flush = async (): Promise<void> => {
      const batch = group.splice(0)
      groupKeys = 0
      if (batch.length === 0 || deposed) return
      const all = await errors.step(() => this.etcd.fencedTxn(term, { unchanged: batch.flatMap((b) => b.unchanged), deletes: batch.flatMap((b) => b.deletes) }))
      if (all) {
        pruned += batch.length
        return
      }
      if (all === undefined) return // an error: the group waits for a later run
      if (this.cluster.leaderTerm !== term) {
        deposed = true
        return
      }
      for (const b of batch) if (await errors.step(() => this.etcd.fencedTxn(term, { unchanged: b.unchanged, deletes: b.deletes }))) pruned++
    }
    const locks = await this.lockedOutpoints()
    for await (const page of this.store.pages()) {
      const due = page.filter((e) => this.finishedPast(e.value, now)).slice(0, LEADER_BATCH - planned)
      const mirrored = await this.mirroredFinal(due.map((e) => e.value))
      for (const e of due) {
        if (!mirrored.has(e.value.id) || this.holdsLocks(e.value, locks)) continue
        const plan = await errors.step(() => this.plan(e))
        if (!plan) continue
        planned++
        if (groupKeys + plan.deletes.length > DELETE_BATCH) await flush()
        group.push(plan)
        groupKeys += plan.deletes.length
        if (deposed) return pruned
      }
      if (planned >= LEADER_BATCH) break
    }
    await flush()
    return pruned
  }

  /** What deleting one finished transaction takes: its record, attempts and the used presignatures they name, each unchanged since read. */
  private async plan(e: EtcdEntry<TxRecord>): Promise<PrunePlan> {
    const tx = e.value
    const attempts = await this.etcd.getPrefix<SigningAttempt>(`${WalletKeys.attemptsAll}${tx.id}/`)
    const presigIds = [...new Set(attempts.flatMap((a) => a.value.presignatures ?? []).filter((p): p is string => Boolean(p)))]
    const presigs: EtcdEntry<PresigRecord>[] = []
    for (const id of presigIds) {
      const p = await this.etcd.get<PresigRecord>(WalletKeys.presig(id))
      if (p && (p.value.status === 'used' || p.value.status === 'burned') && p.value.txId === tx.id) presigs.push(p)
    }
    return {
      unchanged: [[e.key, e.modRevision], ...presigs.map((p): [string, string] => [p.key, p.modRevision])],
      deletes: [e.key, WalletKeys.active(tx.id), ...attempts.map((a) => a.key), ...presigs.map((p) => p.key)],
    }
  }

  /**
   * Idempotency-Key records whose transaction left etcd more than 7 × the retention ago (its
   * mirror row says when it last changed); claims that never committed, as long after their
   * expiry. A record whose transaction has no mirror row here stays.
   */
  private async pruneIdempotency(term: string, now: number, errors: PassErrors): Promise<number> {
    const keep = IDEMPOTENCY_RETENTION_FACTOR * this.retentionMs
    let pruned = 0
    for await (const page of this.etcd.getPrefixPaged<IdempotencyRecord & { state?: string; expiresAt?: string }>(`/tw/idempotency/`)) {
      for (const e of page) {
        if (pruned >= LEADER_BATCH) return pruned
        const rec = e.value
        const done = await errors.step(async () => {
          if (await this.store.get(rec.txId)) return false
          let due: boolean
          if (rec.state === 'claimed') due = now - Date.parse(rec.expiresAt ?? '') > keep
          else {
            const row = await this.store.mirrorRow(rec.txId)
            const last = row?.record ? Date.parse(row.record.updatedAt) : NaN
            due = row !== null && TERMINAL_STATES.includes(row.state) && now - last > keep
          }
          return due && (await this.etcd.fencedTxn(term, { unchanged: [[e.key, e.modRevision]], deletes: [e.key] }))
        })
        if (done) pruned++
      }
    }
    return pruned
  }

  /** Burned presignature jobs that no transaction used (a failed generation), past the retention. */
  private async pruneUnusedPresignatures(term: string, now: number, errors: PassErrors): Promise<number> {
    let pruned = 0
    for await (const page of this.etcd.getPrefixPaged<PresigRecord>(WalletKeys.presigs)) {
      for (const e of page) {
        if (pruned >= LEADER_BATCH) return pruned
        const p = e.value
        if (p.status !== 'burned' || p.txId !== null || now - Date.parse(p.createdAt) <= this.retentionMs) continue
        if (await errors.step(() => this.etcd.fencedTxn(term, { unchanged: [[e.key, e.modRevision]], deletes: [e.key] }))) pruned++
      }
    }
    return pruned
  }

  // ------------------------------------------------------------------ every node's part

  /** This node's votes, signing results and presignature results whose subject left etcd (or finished past the retention). */
  private async pruneOwnPartition(now: number, errors: PassErrors): Promise<number> {
    const me = this.config.nodeId
    let deleted = 0
    const pending: EtcdEntry<unknown>[] = []
    /** Deletes the pending keys, each only if unchanged since read, {@link DELETE_BATCH} to a transaction. */
    const flush = async (): Promise<void> => {
      const batch = pending.splice(0)
      if (batch.length === 0) return
      const all = await errors.step(() => this.etcd.atomic({ unchanged: batch.map((e): [string, string] => [e.key, e.modRevision]), deletes: batch.map((e) => e.key) }))
      if (all) deleted += batch.length
      // One of them changed since it was read: each on its own (an error leaves the rest for a later run).
      else if (all === false) for (const e of batch) if (await errors.step(() => this.etcd.atomic({ unchanged: [[e.key, e.modRevision]], deletes: [e.key] }))) deleted++
    }
    const drop = async (e: EtcdEntry<unknown>): Promise<boolean> => {
      if (deleted + pending.length >= PARTITION_BATCH) return false
      pending.push(e)
      if (pending.length >= DELETE_BATCH) await flush()
      return true
    }
    const verdicts = new Map<string, boolean>()
    let locks: Map<string, string | undefined> | undefined
    const txGone = async (id: string): Promise<boolean> => {
      let v = verdicts.get(id)
      if (v === undefined) {
        const tx = (await this.store.get(id))?.value
        // Gone from etcd (the leader pruned it); or still there a whole retention after it was
        // due (the leader cannot prune it: its PostgreSQL is down, say), lock-free and in this
        // node's own mirror: its record then shows no votes, the mirror has this node's.
        v =
          !tx ||
          (this.finishedPast(tx, now - this.retentionMs) &&
            !this.holdsLocks(tx, (locks ??= await this.lockedOutpoints())) &&
            (await this.mirroredFinal([tx])
              .then((m) => m.has(tx.id))
              .catch(() => false)))
        verdicts.set(id, v)
      }
      return v
    }
    try {
      await this.walkOwnPartition(me, txGone, drop, errors)
      await flush()
    } catch (err) {
      this.log.warn(`pruning this node's partition stopped: ${errorMessage(err)}`)
    }
    return deleted
  }

  /** Offers `drop` every key of this node's partition whose subject is gone; stops when `drop` says the run is full. */
  private async walkOwnPartition(me: number, txGone: (id: string) => Promise<boolean>, drop: (e: EtcdEntry<unknown>) => Promise<boolean>, errors: PassErrors): Promise<void> {
    for (const kind of ['votes', 'results'] as const) {
      const prefix = `${WalletKeys.partitions}${me}/${kind}/`
      for await (const page of this.etcd.getPrefixPaged<unknown>(prefix)) {
        for (const e of page) {
          const id = e.key.slice(prefix.length).split('/')[0]
          if ((await errors.step(() => txGone(id))) && !(await drop(e))) return
        }
      }
    }
    const prefix = `${WalletKeys.partitions}${me}/presig-results/`
    for await (const page of this.etcd.getPrefixPaged<unknown>(prefix)) {
      for (const e of page) {
        const id = e.key.slice(prefix.length).split('/')[0]
        if ((await errors.step(async () => !(await this.etcd.get(WalletKeys.presig(id))))) && !(await drop(e))) return
      }
    }
  }
}
