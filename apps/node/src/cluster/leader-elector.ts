import { EventEmitter } from 'node:events'
import type { EtcdRepository, LeaderRecord } from './etcd.repository'

export interface LeaderChange {
  previous: LeaderRecord | null
  current: LeaderRecord | null
}

/**
 * Leader election on `/tw/leader`: the first node to create the key under its session lease
 * leads until the lease ends (revoked on shutdown, or expired when the process dies or is
 * cut off); then the others' next {@link step} campaigns again. The term is the key's create
 * revision: every leader write is fenced on it (see `EtcdRepository.fencedPut`).
 *
 * Events: `change` ({@link LeaderChange}) whenever the observed term changes.
 */
export class LeaderElector extends EventEmitter {
  private observed: LeaderRecord | null = null

  constructor(
    private readonly etcd: EtcdRepository,
    private readonly me: { nodeId: number; apiUrl: string },
  ) {
    super()
  }

  /** The leader as last observed (may be stale while etcd is unreachable). */
  get leader(): LeaderRecord | null {
    return this.observed
  }

  /** Whether this node holds the current term with its current session. */
  get isLeader(): boolean {
    const l = this.observed
    return !!l && l.nodeId === this.me.nodeId && l.leaseId === this.etcd.sessionLeaseId
  }

  /** This node's fencing token while it leads, else null. */
  get term(): string | null {
    return this.isLeader ? this.observed!.term : null
  }

  /**
   * Reads the leader and campaigns if there is none (unless `campaign` is false: a banned
   * node only follows). Needs a session lease to campaign.
   */
  async step(opts: { campaign?: boolean } = {}): Promise<LeaderRecord | null> {
    let current = await this.etcd.getLeader()
    if (!current && opts.campaign !== false && this.etcd.sessionLeaseId) current = await this.etcd.campaign(this.me)
    this.observe(current)
    return current
  }

  /** Forgets the observed leader (e.g. when the session is lost). */
  reset(): void {
    this.observe(null)
  }

  /** Steps down if leading. */
  async resign(): Promise<void> {
    const term = this.term
    if (term) await this.etcd.resign(term)
    this.observe(null)
  }

  private observe(current: LeaderRecord | null): void {
    const previous = this.observed
    this.observed = current
    if (previous?.term !== current?.term || previous?.leaseId !== current?.leaseId) this.emit('change', { previous, current } satisfies LeaderChange)
  }
}
