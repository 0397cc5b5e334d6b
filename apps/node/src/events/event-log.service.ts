import { Inject, Injectable, Logger } from '@nestjs/common'
import { eventMatches, type DepositDto, type WalletEventDto } from '@tw/api'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdRepository, type EtcdEntry } from '../cluster/etcd.repository'
import { errorMessage } from '../common/async'
import { Reconciler } from '../common/reconciler'
import type { AppConfig } from '../config/config'
import { APP_CONFIG } from '../config/config.module'
import { MetricsService } from '../metrics/metrics.service'
import { CoinsService } from '../wallet/coins.service'
import { WalletKeys, type TxRecord } from '../wallet/wallet.types'
import { NodeIdentityService } from '../byzantine/identity.service'
import { depositEvents, eventBody, EVENT_RETENTION_MS, EventKeys, transactionEvents, type StoredEvent, type UnsignedEvent } from './events.types'

/** The whole log is read again this often on every node (a watch event lost in an outage). */
const RESYNC_MS = 5 * 60_000
/** The leader looks at every transaction record this often (and at the start of its term). */
const FULL_SCAN_MS = 5 * 60_000
/** The leader prunes events past their retention this often. */
const PRUNE_MS = 10 * 60_000
/** Events deleted per etcd transaction when pruning. */
const PRUNE_BATCH = 100

/**
 * The cluster's event log (`/tw/events/`): what happened to sends and deposits, in order, for
 * the event stream (`GET /api/v1/events`) and webhooks.
 *
 * - The leader writes it: one event per entry of each transaction's history
 *   (`transaction.<state>`, found from the watch on `/tw/tx/` and a scan of every record at
 *   the start of its term and every 5 minutes, so a change made while there was no leader is
 *   not missed), and `deposit.pending` / `deposit.confirmed` from a scan of the receive
 *   addresses every TW_DEPOSIT_SCAN_S. Each event is created once (fenced, if absent): its id
 *   is derived from what it announces, so a new leader writing the same event again is a
 *   no-op. Events older than 3 days are pruned.
 * - Every node keeps the log in memory from a watch (read whole at start and every 5
 *   minutes) and tells its stream listeners about each new event.
 * - Every event is signed by the node that wrote it, and passed on (stream, webhooks) only once
 *   this node checked that signature ({@link check}): etcd write access alone announces nothing.
 * - A deposit event is passed on only once this node has also checked it against its own share
 *   and the chain: one node with etcd credentials cannot make the others announce a payment
 *   that never happened.
 */
@Injectable()
export class EventLogService {
  private readonly log = new Logger('EventLog')
  private readonly reconciler = new Reconciler(
    'EventLog',
    5000,
    () => this.step(),
    () => this.metrics.stepErrors.inc({ loop: 'EventLog' }),
  )
  /** Deposits on their own loop: a slow scan of many addresses never holds up transaction events. */
  private depositScan: Reconciler | null = null
  private readonly events = new Map<string, WalletEventDto>()
  private ordered: WalletEventDto[] | null = null
  /** The highest seq told to listeners. */
  private maxSeq = 0
  private loadedAt = 0
  private readonly listeners = new Set<(e: WalletEventDto) => void>()
  private readonly watching = { events: false, txs: false }
  /** Transaction records named by the watch since the leader's last step. */
  private readonly changed = new Map<string, TxRecord>()
  /** Ids this leader wrote (or found written) in its term, before the watch brings them back. */
  private readonly written = new Set<string>()
  private producerTerm: string | null = null
  private fullScanAt = 0
  private prunedAt = 0
  /** Deposit checks by event id: done once per event (a failed check is asked again). */
  private readonly checks = new Map<string, Promise<boolean>>()
  /** Each kept event's writer and signature, by event id. */
  private readonly proofs = new Map<string, { signedBy: number; signature: string }>()

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly coins: CoinsService,
    private readonly metrics: MetricsService,
    private readonly identity: NodeIdentityService,
  ) {}

  async start(): Promise<void> {
    await this.watch()
    this.reconciler.start()
    if (this.config.chain.url) {
      this.depositScan = new Reconciler(
        'DepositEvents',
        this.config.events.depositScanMs,
        () => this.scanDeposits(),
        () => this.metrics.stepErrors.inc({ loop: 'DepositEvents' }),
      )
      this.depositScan.start()
    }
  }

  async stop(): Promise<void> {
    this.listeners.clear()
    await this.depositScan?.stop()
    await this.reconciler.stop()
  }

  /** Calls `listener` with every new event (in seq order) until the returned function is called. */
  subscribe(listener: (e: WalletEventDto) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The kept events with seq above `afterSeq` matching `filters` (all when empty), oldest first, at most `limit`. */
  since(afterSeq: number, filters: readonly string[] = [], limit = Number.MAX_SAFE_INTEGER): WalletEventDto[] {
    const ordered = (this.ordered ??= [...this.events.values()].sort((a, b) => a.seq - b.seq))
    // The first event after afterSeq, by bisection (webhooks ask for one event at a time).
    let lo = 0
    let hi = ordered.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (ordered[mid].seq <= afterSeq) lo = mid + 1
      else hi = mid
    }
    const out: WalletEventDto[] = []
    for (let i = lo; i < ordered.length && out.length < limit; i++) if (eventMatches(ordered[i].type, filters)) out.push(ordered[i])
    return out
  }

  /** The seq of the newest event kept (0 when none). */
  get lastSeq(): number {
    return this.maxSeq
  }

  /**
   * Whether this node passes `e` on. Every event must be signed by a node (the one that wrote
   * it); a deposit event must also check out against this node's own share and the chain
   * (CoinsService.confirmDeposit). Other events are passed on as their writer signed them
   * (docs/SECURITY.md says what that trusts). Throws when the chain cannot be asked.
   */
  check(e: WalletEventDto): Promise<boolean> {
    let done = this.checks.get(e.id)
    if (!done) {
      done = this.verifyAndConfirm(e)
      this.checks.set(e.id, done)
      // Only a deposit found is remembered: one not found (yet: the chain backend may be a
      // block behind) is asked about again next time.
      done.then(
        (ok) => {
          if (ok) return
          this.checks.delete(e.id)
          this.log.warn(
            `event ${e.id} (seq ${e.seq}) does not check out (not signed by a node, or a deposit this node cannot find on the chain for its own address): not passed on`,
          )
        },
        () => this.checks.delete(e.id),
      )
    }
    return done
  }

  private async watch(): Promise<void> {
    if (!this.watching.events) {
      this.watching.events = await this.etcd
        .watchPrefix(EventKeys.events, (key, deleted, entry) => this.onEvent(key, deleted, entry))
        .then(() => true)
        .catch(() => false)
    }
    if (!this.watching.txs) {
      this.watching.txs = await this.etcd
        .watchPrefix(WalletKeys.txs, (key, deleted, entry) => {
          // Only the leader writes events: the others never parse the record.
          if (deleted || !this.cluster.isLeader) return
          const record = entry()
          if (!record) return
          this.changed.set(key.slice(WalletKeys.txs.length), record.value as TxRecord)
          this.reconciler.kick()
        })
        .then(() => true)
        .catch(() => false)
    }
  }

  /** Whether the whole log has been read once (before that, nothing is delivered or replayed from it). */
  get ready(): boolean {
    return this.loadedAt > 0
  }

  /** Resolves true once {@link ready}, false after `timeoutMs` without it. */
  async whenReady(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs
    while (!this.ready && Date.now() < until) await new Promise((r) => setTimeout(r, 100))
    return this.ready
  }

  private onEvent(key: string, deleted: boolean, entry: () => EtcdEntry<unknown> | null): void {
    const id = key.slice(EventKeys.events.length)
    if (deleted) {
      if (this.events.delete(id)) this.ordered = null
      this.checks.delete(id)
      this.proofs.delete(id)
      return
    }
    const e = entry()
    if (e) this.add(e as EtcdEntry<StoredEvent>, true)
  }

  /** Keeps `entry`; tells the listeners when it is newer than anything they were told. */
  private add(entry: EtcdEntry<StoredEvent>, fromWatch: boolean): void {
    const v = entry.value
    if (typeof v?.id !== 'string' || typeof v.type !== 'string' || typeof v.at !== 'string') return
    const event: WalletEventDto = { id: v.id, seq: Number(entry.createRevision), type: v.type, at: v.at, data: v.data }
    const known = this.events.has(v.id)
    this.events.set(v.id, event)
    if (Number.isInteger(v.signedBy) && typeof v.signature === 'string') this.proofs.set(v.id, { signedBy: v.signedBy, signature: v.signature })
    else this.proofs.delete(v.id)
    this.written.delete(v.id)
    if (known) return
    this.ordered = null
    if (event.seq > this.maxSeq && (fromWatch || this.loadedAt > 0)) {
      this.maxSeq = event.seq
      for (const listener of this.listeners) listener(event)
    } else this.maxSeq = Math.max(this.maxSeq, event.seq)
  }

  /** Reads the whole log (page by page) and keeps what the watch missed. */
  private async load(): Promise<void> {
    const found: EtcdEntry<StoredEvent>[] = []
    for await (const page of this.etcd.getPrefixPaged<StoredEvent>(EventKeys.events)) found.push(...page)
    found.sort((a, b) => Number(a.createRevision) - Number(b.createRevision))
    for (const e of found) this.add(e, false)
    // An event kept past its retention (its delete missed) goes from memory too.
    const oldest = Date.now() - EVENT_RETENTION_MS
    const present = new Set(found.map((f) => f.value.id))
    for (const [id, e] of this.events) {
      if (Date.parse(e.at) < oldest && !present.has(id)) {
        this.events.delete(id)
        this.proofs.delete(id)
      }
    }
    this.ordered = null
    this.loadedAt = Date.now()
  }

  private async step(): Promise<void> {
    await this.watch()
    if (Date.now() - this.loadedAt >= RESYNC_MS) await this.load()
    const term = this.cluster.isLeader ? this.cluster.leaderTerm : null
    if (!term) {
      this.producerTerm = null
      this.changed.clear()
      return
    }
    const now = Date.now()
    if (this.producerTerm !== term || now - this.fullScanAt >= FULL_SCAN_MS) {
      if (this.producerTerm !== term) this.written.clear()
      this.changed.clear()
      for await (const page of this.etcd.getPrefixPaged<TxRecord>(WalletKeys.txs)) {
        for (const e of page) await this.write(term, 'transaction', transactionEvents(e.value, this.known, now))
      }
      this.producerTerm = term
      this.fullScanAt = now
    } else {
      const batch = [...this.changed.values()]
      this.changed.clear()
      for (const [n, record] of batch.entries()) {
        try {
          await this.write(term, 'transaction', transactionEvents(record, this.known, now))
        } catch (err) {
          // The rest waits for the next step.
          for (const r of batch.slice(n)) if (!this.changed.has(r.id)) this.changed.set(r.id, r)
          throw err
        }
      }
    }
    if (now - this.prunedAt >= PRUNE_MS) {
      this.prunedAt = now
      await this.prune(term)
    }
  }

  /** The leader's deposit scan: every receive address handed out, the newest 1000 payments. */
  private async scanDeposits(): Promise<void> {
    // Only once the log is read (so events already written are known) and in a term whose start-up scan is done.
    const term = this.cluster.isLeader ? this.cluster.leaderTerm : null
    if (!term || this.producerTerm !== term) return
    const { deposits } = await this.coins.deposits({ limit: 1000 })
    const now = Date.now()
    for (const d of deposits) await this.write(term, 'deposit', depositEvents(d, this.known, now))
  }

  private readonly known = (id: string): boolean => this.events.has(id) || this.written.has(id)

  private async write(term: string, kind: 'transaction' | 'deposit', events: UnsignedEvent[]): Promise<void> {
    const me = this.config.nodeId
    for (const unsigned of events) {
      const e: StoredEvent = { ...unsigned, signedBy: me, signature: this.identity.sign(eventBody(unsigned, me)) }
      if (!(await this.etcd.fencedPut(term, EventKeys.event(e.id), e, { ifAbsent: true }))) {
        // Written already (a leader before us), or this term is over: either way not ours to write.
        this.written.add(e.id)
        if (!this.cluster.isLeader) return
        continue
      }
      this.written.add(e.id)
      this.metrics.eventsWritten.inc({ kind })
    }
  }

  /** Deletes events older than the retention (fenced, in batches). */
  private async prune(term: string): Promise<void> {
    const oldest = Date.now() - EVENT_RETENTION_MS
    const old = [...this.events.values()].filter((e) => Date.parse(e.at) < oldest).map((e) => EventKeys.event(e.id))
    for (let i = 0; i < old.length; i += PRUNE_BATCH) {
      if (!(await this.etcd.fencedTxn(term, { deletes: old.slice(i, i + PRUNE_BATCH) }))) return
    }
    if (old.length) this.log.log(`pruned ${old.length} event(s) older than ${EVENT_RETENTION_MS / 3600_000} h`)
  }

  private async verifyAndConfirm(e: WalletEventDto): Promise<boolean> {
    const proof = this.proofs.get(e.id)
    if (!proof || !(await this.identity.verify(proof.signedBy, eventBody(e, proof.signedBy), proof.signature))) return false
    return e.type.startsWith('deposit.') ? this.coins.confirmDeposit(e.data as DepositDto) : true
  }

  /** Logs a failed check (the chain could not be asked) without throwing. */
  async checkOrFalse(e: WalletEventDto): Promise<boolean> {
    try {
      return await this.check(e)
    } catch (err) {
      this.log.warn(`event ${e.id}: could not be checked (${errorMessage(err)}); not passed on`)
      return false
    }
  }
}
