import { mkdirSync, readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { recordFile, writeFileDurably } from '../common/durable-file'
import type { RefreshVoteRecord } from './key-refresh'

/**
 * This node's votes on share refresh jobs, on its own disk (`<keystore dir>/refresh-votes/`),
 * written and fsynced before a vote is published: a node votes once per job whatever etcd says
 * (a vanished vote key gets the same bytes again), and the last refresh it approved of each key
 * (the TW_REFRESH_MIN_INTERVAL_S check) survives restarts. One small file per job; a refresh is
 * rare, so every vote stays in memory.
 */
export class RefreshVoteLedger {
  private readonly votes = new Map<string, RefreshVoteRecord>()

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.json')) continue
      try {
        const vote = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as RefreshVoteRecord
        this.votes.set(vote.jobId, vote)
      } catch {
        // A file torn before its rename never had its vote published: nothing to keep.
      }
    }
  }

  /** The vote this node cast on `jobId`, or null. */
  get(jobId: string): RefreshVoteRecord | null {
    return this.votes.get(jobId) ?? null
  }

  /**
   * Keeps `vote` durably and returns the one vote of its job: `vote` itself, or the vote cast
   * earlier (never a second one).
   */
  record(vote: RefreshVoteRecord): RefreshVoteRecord {
    const earlier = this.votes.get(vote.jobId)
    if (earlier) return earlier
    writeFileDurably(recordFile(this.dir, vote.jobId), JSON.stringify(vote))
    this.votes.set(vote.jobId, vote)
    return vote
  }

  /** When this node last approved a refresh of `keyId` (ms since the epoch), or null. */
  lastApprovedAt(keyId: string): number | null {
    let last: number | null = null
    for (const v of this.votes.values()) {
      if (v.keyId !== keyId || !v.approve) continue
      const at = Date.parse(v.votedAt)
      if (Number.isFinite(at) && (last === null || at > last)) last = at
    }
    return last
  }
}
