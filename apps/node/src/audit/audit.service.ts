import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common'
import { errorMessage, sleep } from '../common/async'
import { DependencyUnavailableError } from '../common/errors'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { AuditRepository, type AuditChainCheck, type AuditEntryInput } from './audit.repository'

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
  | 'aux.requested'
  | 'aux.completed'
  | 'aux.failed'
  | 'dkg.requested'
  | 'dkg.started'
  | 'dkg.completed'
  | 'dkg.failed'
  | 'key.activated'
  | 'key.failed'
  | 'key.record_mismatch'
  | 'tx.proposed'
  | 'tx.voted'
  | 'tx.state'
  | 'tx.signed_share'
  | 'tx.vote_republished'
  | 'tx.sign_refused'
  | 'presig.generated'
  | 'presig.burned'
  | 'byzantine.accused'
  | 'byzantine.proven'
  | 'node.banned'
  | 'node.unbanned'
  | 'drill.changed'
  | 'token.created'
  | 'token.revoked'
  | 'api.denied'

const MAX_PENDING = 10_000
/** Entries written per database transaction at most. */
const BATCH = 64

interface Queued {
  entry: AuditEntryInput
  /** Resolves the caller's `record` once the entry is written (or queued behind an outage). */
  done: () => void
}

/**
 * Writes audit entries. One writer per node appends them in order; whatever was recorded
 * while it was writing goes in its next transaction, so concurrent steps share one turn of
 * the chain lock instead of queueing for it one by one. If the database is down, entries
 * wait in memory (bounded, in order) and are flushed when it returns, so a short outage
 * loses nothing.
 *
 * @example
 * await audit.record('dkg.requested', { jobId, protocol }, 'api')
 */
@Injectable()
export class AuditService implements OnModuleDestroy {
  private readonly log = new Logger('Audit')
  private readonly queue: Queued[] = []
  private writer: Promise<void> | null = null
  private turn: Promise<unknown> = Promise.resolve()
  private closed = false

  constructor(
    private readonly repo: AuditRepository,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'nodeId'>,
  ) {}

  /**
   * Appends an entry. Resolves once it is written, or at once if the database is down (the
   * entry then waits in memory for it). Never throws.
   */
  record(action: AuditAction, details: Record<string, unknown>, actor = `node-${this.config.nodeId}`): Promise<void> {
    const entry: AuditEntryInput = { nodeId: this.config.nodeId, action, actor, details }
    if (this.queue.length >= MAX_PENDING) {
      this.log.error(`audit queue full: dropping ${action} ${JSON.stringify(details)}`)
      return Promise.resolve()
    }
    return new Promise<void>((done) => {
      this.queue.push({ entry, done })
      this.writer ??= this.write()
    })
  }

  /** Recomputes the chain; `firstBrokenId` names the first row that fails. */
  verify(): Promise<AuditChainCheck> {
    return this.repo.verify()
  }

  /** Entries not yet written. */
  get pendingCount(): number {
    return this.queue.length
  }

  /** Writes what is queued, waiting at most `ms`. */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms
    while (this.queue.length && Date.now() < deadline) {
      if (!(await this.writeBatch())) await sleep(200)
    }
  }

  onModuleDestroy(): void {
    this.closed = true
  }

  private async write(): Promise<void> {
    while (this.queue.length && !this.closed) {
      if (await this.writeBatch()) continue
      // The database is down: release the callers (their entries stay queued, in order) and retry.
      for (const q of this.queue) q.done()
      await sleep(2000)
    }
    this.writer = null
  }

  /** One batch from the head of the queue; `write` and `drain` take turns (never the same batch twice). */
  private writeBatch(): Promise<boolean> {
    const turn = this.turn.then(() => this.writeHead())
    this.turn = turn
    return turn
  }

  private async writeHead(): Promise<boolean> {
    const batch = this.queue.slice(0, BATCH)
    if (batch.length === 0) return true
    try {
      await this.repo.appendMany(batch.map((q) => q.entry))
      this.queue.splice(0, batch.length)
      for (const q of batch) q.done()
      return true
    } catch (err) {
      if (err instanceof DependencyUnavailableError) this.log.warn(`${batch.length} audit entr${batch.length === 1 ? 'y' : 'ies'} queued: ${errorMessage(err)}`)
      else this.log.debug(`audit write: ${errorMessage(err)}`)
      return false
    }
  }
}
