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
  | 'aux.requested'
  | 'aux.completed'
  | 'aux.failed'
  | 'dkg.requested'
  | 'dkg.started'
  | 'dkg.completed'
  | 'dkg.failed'
  | 'key.activated'
  | 'key.failed'
  | 'tx.proposed'
  | 'tx.voted'
  | 'tx.state'
  | 'tx.signed_share'
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

/**
 * Writes audit entries. If the database is down, entries wait in memory (bounded, in order)
 * and are flushed when it returns, so a short outage loses nothing.
 *
 * @example
 * await audit.record('dkg.requested', { jobId, protocol }, 'api')
 */
@Injectable()
export class AuditService implements OnModuleDestroy {
  private readonly log = new Logger('Audit')
  private readonly pending: AuditEntryInput[] = []
  private flushing: Promise<void> | null = null
  private closed = false

  constructor(
    private readonly repo: AuditRepository,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'nodeId'>,
  ) {}

  /** Appends an entry (or queues it while the database is down). Never throws. */
  async record(action: AuditAction, details: Record<string, unknown>, actor = `node-${this.config.nodeId}`): Promise<void> {
    const entry: AuditEntryInput = { nodeId: this.config.nodeId, action, actor, details }
    if (this.pending.length === 0) {
      try {
        await this.repo.append(entry)
        return
      } catch (err) {
        this.log.warn(`audit entry ${action} queued: ${errorMessage(err)}`)
      }
    }
    if (this.pending.length >= MAX_PENDING) {
      this.log.error(`audit queue full: dropping ${action} ${JSON.stringify(details)}`)
      return
    }
    this.pending.push(entry)
    this.flushing ??= this.flush()
  }

  /** Recomputes the chain; `firstBrokenId` names the first row that fails. */
  verify(): Promise<AuditChainCheck> {
    return this.repo.verify()
  }

  /** Entries not yet written because the database was down. */
  get pendingCount(): number {
    return this.pending.length
  }

  /** Writes what is queued, waiting at most `ms`. */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms
    while (this.pending.length && Date.now() < deadline) {
      if (!(await this.writeHead())) await sleep(200)
    }
  }

  onModuleDestroy(): void {
    this.closed = true
  }

  private async flush(): Promise<void> {
    while (this.pending.length && !this.closed) {
      if (!(await this.writeHead())) await sleep(2000)
    }
    this.flushing = null
  }

  private async writeHead(): Promise<boolean> {
    const head = this.pending[0]
    if (!head) return true
    try {
      await this.repo.append(head)
      this.pending.shift()
      return true
    } catch (err) {
      if (!(err instanceof DependencyUnavailableError)) this.log.debug(`audit flush: ${errorMessage(err)}`)
      return false
    }
  }
}
