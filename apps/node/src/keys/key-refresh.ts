import type { KeyProtocol } from '@tw/api'

/**
 * Proactive share refresh: records and the one decision every node takes on its own.
 *
 * `/tw/refresh/<keyId>`: the key's current refresh job, written by the node whose API took the
 * request (create-if-absent, or replacing a finished job by compare-and-swap) and signed by
 * that node's identity key. `/tw/n/<node>/refresh-votes/<jobId>`: each node's signed vote on
 * the job (judged by {@link judgeRefresh}; the key is paused only once every node approved).
 * `/tw/n/<node>/refresh-results/<jobId>`: each node's signed outcome
 * (the fingerprint of its new public shares); `/tw/n/<node>/refresh-commits/<jobId>`: each
 * node's signed word that its refreshed share is live. Only a node may write its partition,
 * and every statement is signed, so nothing an etcd writer forges makes a node switch shares.
 */
export interface RefreshJobRecord {
  jobId: string
  keyId: string
  protocol: KeyProtocol
  /** Session id of the refresh itself. */
  sessionId: string
  /** ECDSA only: the fresh aux info generation the new shares take (its session and id). */
  auxSessionId: string | null
  auxId: string | null
  requestedBy: number
  requestedAt: string
  /** The requesting node's identity signature over the record without this field. */
  signature: string
}

/** A node's one vote on a refresh job, kept on its own disk before it is published. */
export interface RefreshVoteRecord {
  nodeId: number
  jobId: string
  keyId: string
  approve: boolean
  /** Stable reason code of a rejection (REQUESTER_BANNED, KEY_NOT_HELD, TOO_SOON); null on approval. */
  code: RefreshRejection | null
  reason: string | null
  votedAt: string
  signature: string
}

export type RefreshRejection = 'REQUESTER_BANNED' | 'KEY_NOT_HELD' | 'TOO_SOON'

export interface RefreshResultRecord {
  nodeId: number
  jobId: string
  keyId: string
  ok: boolean
  /** hex: the pending share's public-share fingerprint (ok only). */
  fingerprint: string | null
  code: string | null
  error: string | null
  reportedAt: string
  signature: string
}

export interface RefreshCommitRecord {
  nodeId: number
  jobId: string
  keyId: string
  fingerprint: string
  committedAt: string
  /** Evidence: every node's signed success with `fingerprint`, in node order. */
  results: RefreshResultRecord[]
  signature: string
}

export const RefreshKeys = {
  jobs: '/tw/refresh/',
  job: (keyId: string) => `/tw/refresh/${keyId}`,
  vote: (jobId: string, nodeId: number) => `/tw/n/${nodeId}/refresh-votes/${jobId}`,
  result: (jobId: string, nodeId: number) => `/tw/n/${nodeId}/refresh-results/${jobId}`,
  commit: (jobId: string, nodeId: number) => `/tw/n/${nodeId}/refresh-commits/${jobId}`,
}

/** Partition kinds holding refresh statements. */
export const REFRESH_KINDS: ReadonlySet<string> = new Set(['refresh-votes', 'refresh-results', 'refresh-commits'])

/** What a node knows when it votes on a refresh job. */
export interface RefreshJudgeInput {
  job: Pick<RefreshJobRecord, 'keyId' | 'requestedBy'>
  bannedNodes: readonly number[]
  /** This node holds a live share of the key. */
  holdsKey: boolean
  /** When this node last approved a refresh of the key (its own ledger), or null. */
  lastApprovedAt: number | null
  now: number
  /** TW_REFRESH_MIN_INTERVAL_S. */
  minIntervalS: number
}

/**
 * A node's vote on a refresh job. A refresh moves no coin and changes no address, but it pauses
 * the key's signing while it runs, so each node refuses a job filed by a banned node, for a key
 * it does not hold, or sooner than `minIntervalS` after the last refresh of the key it approved
 * (a node filing refreshes over and over cannot keep the key paused).
 */
export function judgeRefresh(i: RefreshJudgeInput): { approve: true } | { approve: false; code: RefreshRejection; reason: string } {
  if (i.bannedNodes.includes(i.job.requestedBy)) return { approve: false, code: 'REQUESTER_BANNED', reason: `filed by node ${i.job.requestedBy}, which is banned` }
  if (!i.holdsKey) return { approve: false, code: 'KEY_NOT_HELD', reason: `this node holds no share of key ${i.job.keyId}` }
  if (i.lastApprovedAt !== null) {
    const waitS = Math.ceil((i.lastApprovedAt + i.minIntervalS * 1000 - i.now) / 1000)
    if (waitS > 0) {
      return {
        approve: false,
        code: 'TOO_SOON',
        reason: `the last refresh of key ${i.job.keyId} was approved ${Math.floor((i.now - i.lastApprovedAt) / 1000)} s ago; TW_REFRESH_MIN_INTERVAL_S is ${i.minIntervalS} (retry in ${waitS} s)`,
      }
    }
  }
  return { approve: true }
}

/**
 * What a node does with a job, from the *verified* statements of every node (votes, results
 * and commits whose signature, node id, job and key were checked):
 * - `voting`: not every node voted yet, none rejected: nothing runs, the key is not paused;
 * - `rejected`: a node voted against it (its reason): nothing ran, nothing changes;
 * - `approved`: every node approved, not every node reported: pause the key and run the session;
 * - `failed`: a node reported failure, or two nodes reported different fingerprints: every
 *   node drops its pending share (the key keeps its live shares, nothing changed);
 * - `commit`: every node reported success with the same fingerprint: switch to the new share
 *   (`results` are those successes, the evidence a node's commit carries).
 * Once a result or a commit is in, votes are no longer read: an honest node runs (and so
 * reports) only after seeing every approval, and a vote rewritten later cannot undo that.
 * Never decided by a clock: a node that reported success may already have switched, so giving
 * up on time could split the cluster. A job is `done` once every node's commit is in.
 */
export type RefreshDecision =
  | { kind: 'voting'; approved: number[] }
  | { kind: 'rejected'; reason: string }
  | { kind: 'approved'; reported: number[] }
  | { kind: 'failed'; reason: string }
  | { kind: 'commit'; fingerprint: string; committed: number[]; done: boolean; results: RefreshResultRecord[] }

const byId = (a: number, b: number) => a - b

export function decideRefresh(clusterSize: number, votes: RefreshVoteRecord[], results: RefreshResultRecord[], commits: RefreshCommitRecord[]): RefreshDecision {
  if (results.length === 0 && commits.length === 0) {
    const no = votes.find((v) => !v.approve)
    if (no) return { kind: 'rejected', reason: `node ${no.nodeId}: ${no.code ?? 'REJECTED'}${no.reason ? `: ${no.reason}` : ''}` }
    const approved = votes.map((v) => v.nodeId).sort(byId)
    if (approved.length < clusterSize) return { kind: 'voting', approved }
  }
  const failed = results.find((r) => !r.ok)
  if (failed) return { kind: 'failed', reason: `node ${failed.nodeId}: ${failed.code ?? 'FAILED'}${failed.error ? `: ${failed.error}` : ''}` }
  const prints = new Set(results.map((r) => r.fingerprint))
  if (prints.size > 1) return { kind: 'failed', reason: `nodes report different new shares (${[...prints].length} fingerprints)` }
  if (results.length < clusterSize) return { kind: 'approved', reported: results.map((r) => r.nodeId).sort(byId) }
  const fingerprint = results[0].fingerprint!
  const committed = commits
    .filter((c) => c.fingerprint === fingerprint)
    .map((c) => c.nodeId)
    .sort(byId)
  return { kind: 'commit', fingerprint, committed, done: committed.length === clusterSize, results }
}

/** A job is over (signing and presignatures of its key may go on) once it was rejected, failed or is done. */
export function refreshFinished(d: RefreshDecision): boolean {
  return d.kind === 'rejected' || d.kind === 'failed' || (d.kind === 'commit' && d.done)
}
