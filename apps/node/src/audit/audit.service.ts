import { Inject, Injectable, Logger, Optional, type OnModuleDestroy } from '@nestjs/common'
import { randomUUID } from 'node:crypto'
import { Gauge } from 'prom-client'
import { errorMessage, sleep } from '../common/async'
import { DependencyUnavailableError } from '../common/errors'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { MetricsService } from '../metrics/metrics.service'
import { AuditRepository, type AuditChainCheck } from './audit.repository'
import { AuditSpool, type SpoolRecord } from './audit.spool'

/** Security-relevant actions written to the audit log. */
export type AuditAction =
  | 'config.loaded'
  | 'node.joined'
  | 'node.left'
  | 'node.seen_up'
  | 'node.seen_down'
  | 'leader.elected'
  | 'leader.lost'
  | 'leader.deposed'
  | 'leader.no_confidence'
  | 'aux.requested'
  | 'aux.completed'
  | 'aux.failed'
  | 'aux.refused'
  | 'dkg.requested'
  | 'dkg.started'
  | 'dkg.completed'
  | 'dkg.failed'
  | 'dkg.refused'
  | 'dkg.request_refused'
  | 'key.activated'
  | 'key.failed'
  | 'key.record_mismatch'
  | 'key.record_unheld'
  | 'key.refresh_requested'
  | 'key.refreshed'
  | 'key.refresh_voted'
  | 'key.refresh_rejected'
  | 'address.issued'
  | 'cluster.recovered'
  | 'key.recovered'
  | 'tx.recovered'
  | 'key.refresh_failed'
  | 'tx.proposed'
  | 'tx.voted'
  | 'tx.state'
  | 'tx.signed_share'
  | 'tx.vote_republished'
  | 'tx.sign_refused'
  | 'tx.decision_refused'
  | 'tx.abandoned'
  | 'presig.generated'
  | 'presig.burned'
  | 'byzantine.accused'
  | 'byzantine.proven'
  | 'node.banned'
  | 'node.unbanned'
  | 'node.unban_refused'
  | 'drill.changed'
  | 'token.created'
  | 'token.revoked'
  | 'webhook.created'
  | 'webhook.deleted'
  | 'api.denied'

/** Entries written per database transaction at most. */
const BATCH = 64
/** Spooled entries past which every spool write logs an error (nothing is dropped: the disk is the bound). */
export const SPOOL_ALERT_ENTRIES = 100_000
const RETRY_MS = 2000

interface Waiting {
  record: SpoolRecord
  /** Resolves the caller's `record`: once the entry is in PostgreSQL, or spooled while it is down. */
  done: () => void
}

/**
 * Writes audit entries. Every entry is first appended to this node's spool on disk (JSONL
 * segments under `TW_AUDIT_SPOOL_DIR`, fsynced in order, see {@link AuditSpool}), then one
 * writer copies the spool to PostgreSQL in order, several entries per transaction, and trims
 * it. While the database is down the spool grows (nothing is dropped; `mpc_audit_spool_entries`
 * says how much waits and an error is logged past {@link SPOOL_ALERT_ENTRIES}); a restart, even
 * after `kill -9`, replays it. Each entry carries a unique id (`details.auditEntryId`): a
 * replay first skips every spooled entry up to the last one this node has in the database, so
 * a crash between the commit and the trim writes nothing twice.
 *
 * @example
 * await audit.record('dkg.requested', { jobId, protocol }, 'api')
 */
@Injectable()
export class AuditService implements OnModuleDestroy {
  private readonly log = new Logger('Audit')
  private readonly spool: AuditSpool
  /** Recorded, not yet on disk (the spooler takes them all in its next fsync). */
  private unspooled: Waiting[] = []
  /** Spooled, callers waiting for the database write. */
  private readonly waiting = new Map<string, () => void>()
  private spooler: Promise<void> | null = null
  private writer: Promise<void> | null = null
  private turn: Promise<unknown> = Promise.resolve()
  /** The last write failed: callers are released as soon as their entry is spooled. */
  private databaseDown = false
  /** The database may hold spooled entries not yet trimmed (start-up, a failed write): check before writing. */
  private uncertain = true
  private alerting = false
  private closed = false
  private wake = new AbortController()

  constructor(
    private readonly repo: AuditRepository,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'nodeId' | 'audit'>,
    @Optional() metrics?: MetricsService,
  ) {
    this.spool = new AuditSpool(config.audit.spoolDir, this.log)
    if (this.spool.pending) this.log.warn(`audit spool ${config.audit.spoolDir}: ${this.spool.pending} entries from before the restart; writing them to the database`)
    if (metrics) {
      const pending = (): number => this.pendingCount
      new Gauge({
        name: 'mpc_audit_spool_entries',
        help: 'Audit entries on this node not yet in PostgreSQL (spooled on disk while the database is down)',
        registers: [metrics.registry],
        collect() {
          this.set(pending())
        },
      })
    }
    if (this.spool.pending) this.writer = this.write()
  }

  /**
   * Appends an entry. Resolves once it is in the database, or, while the database is down, once
   * it is fsynced to the spool. Never throws.
   */
  record(action: AuditAction, details: Record<string, unknown>, actor = `node-${this.config.nodeId}`): Promise<void> {
    const record: SpoolRecord = { id: randomUUID(), at: new Date().toISOString(), entry: { nodeId: this.config.nodeId, action, actor, details } }
    return new Promise<void>((done) => {
      if (this.closed) {
        this.log.error(`audit service closed: ${action} ${JSON.stringify(details)} not recorded`)
        return done()
      }
      this.unspooled.push({ record, done })
      this.spooler ??= this.spoolAll()
    })
  }

  /** Recomputes the chain; `firstBrokenId` names the first row that fails. */
  verify(): Promise<AuditChainCheck> {
    return this.repo.verify()
  }

  /** Entries not yet in the database (spooled or about to be). */
  get pendingCount(): number {
    return this.spool.pending + this.unspooled.length
  }

  /** Writes what is spooled, waiting at most `ms` (what is left stays spooled for the next start). */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms
    while (this.pendingCount && Date.now() < deadline && !this.closed) {
      if (this.unspooled.length) {
        await (this.spooler ?? this.spoolAll())
        continue
      }
      if (!(await this.writeBatch())) await sleep(Math.min(200, Math.max(0, deadline - Date.now())))
    }
  }

  /** Stops writing (the spool keeps what is left) and closes the spool file. */
  async close(): Promise<void> {
    this.closed = true
    this.wake.abort()
    await this.spooler
    await this.writer
    await this.turn.catch(() => undefined)
    await this.spool.close()
    for (const done of this.waiting.values()) done()
    this.waiting.clear()
  }

  onModuleDestroy(): Promise<void> {
    return this.close()
  }

  /** Appends everything recorded to the spool, one fsync per round, in order. */
  private async spoolAll(): Promise<void> {
    while (this.unspooled.length) {
      const batch = this.unspooled
      this.unspooled = []
      try {
        await this.spool.append(batch.map((w) => w.record))
      } catch (err) {
        // The disk refused: keep the entries in memory, in order, ahead of newer ones, and retry.
        this.unspooled = batch.concat(this.unspooled)
        this.log.error(`audit spool ${this.spool.dir} refused ${batch.length} entries (kept in memory, retrying): ${errorMessage(err)}`)
        for (const w of batch) w.done() // never block the caller on the disk either
        if (this.closed) break
        await sleep(RETRY_MS, this.wake.signal)
        continue
      }
      for (const w of batch) {
        if (this.databaseDown) w.done()
        else this.waiting.set(w.record.id, w.done)
      }
      this.checkAlert()
      this.writer ??= this.write()
    }
    this.spooler = null
  }

  private checkAlert(): void {
    const n = this.spool.pending
    if (n >= SPOOL_ALERT_ENTRIES) {
      this.alerting = true
      this.log.error(`audit spool holds ${n} entries (alert at ${SPOOL_ALERT_ENTRIES}): PostgreSQL has been unreachable for long; restore it (${this.spool.dir})`)
    } else if (this.alerting && n < SPOOL_ALERT_ENTRIES / 2) {
      this.alerting = false
      this.log.log(`audit spool down to ${n} entries`)
    }
  }

  private async write(): Promise<void> {
    while (this.spool.pending && !this.closed) {
      if (await this.writeBatch()) continue
      // The database is down (the callers were released: their entries are on disk, in order): retry.
      await sleep(RETRY_MS, this.wake.signal)
    }
    this.writer = null
  }

  private releaseWaiting(): void {
    for (const done of this.waiting.values()) done()
    this.waiting.clear()
  }

  /** One batch from the head of the spool; `write` and `drain` take turns (never the same batch twice). */
  private writeBatch(): Promise<boolean> {
    const turn = this.turn.then(() => this.writeHead())
    this.turn = turn
    return turn
  }

  private async writeHead(): Promise<boolean> {
    try {
      if (this.uncertain) {
        // Entries the database already has (committed, then a crash or an error before the trim): skip them.
        const last = await this.repo.lastEntryId(this.config.nodeId)
        const skipped = last === null ? 0 : await this.spool.consumeThrough(last)
        if (skipped) this.log.warn(`${skipped} spooled audit entr${skipped === 1 ? 'y was' : 'ies were'} already in the database; not written again`)
        this.uncertain = false
      }
      const batch = this.spool.peek(BATCH)
      if (batch.length === 0) return true
      await this.repo.appendMany(batch.map((r) => ({ ...r.entry, entryId: r.id, at: new Date(r.at) })))
      await this.spool.consume(batch.length)
      this.databaseDown = false
      for (const r of batch) {
        this.waiting.get(r.id)?.()
        this.waiting.delete(r.id)
      }
      return true
    } catch (err) {
      // Whether the transaction committed is unknown (a connection lost at COMMIT): check before the next write.
      this.uncertain = true
      this.databaseDown = true
      this.releaseWaiting()
      if (err instanceof DependencyUnavailableError) this.log.warn(`${this.spool.pending} audit entries spooled: ${errorMessage(err)}`)
      else this.log.warn(`audit write failed (${this.spool.pending} entries spooled): ${errorMessage(err)}`)
      return false
    }
  }
}
