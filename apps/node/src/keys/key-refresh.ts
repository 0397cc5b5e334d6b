import type { KeyProtocol } from '@tw/api'

/**
 * Proactive share refresh: records and the one decision every node takes on its own.
 *
 * `/tw/refresh/<keyId>`: the key's current refresh job, written by the node whose API took the
 * request (create-if-absent, or replacing a finished job by compare-and-swap) and signed by
 * that node's identity key. `/tw/n/<node>/refresh-results/<jobId>`: each node's signed outcome
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
  result: (jobId: string, nodeId: number) => `/tw/n/${nodeId}/refresh-results/${jobId}`,
  commit: (jobId: string, nodeId: number) => `/tw/n/${nodeId}/refresh-commits/${jobId}`,
}

/** Partition kinds holding refresh statements. */
export const REFRESH_KINDS: ReadonlySet<string> = new Set(['refresh-results', 'refresh-commits'])

/** A signed record's payload: everything but the signature. */
export function unsigned<T extends { signature: string }>(record: T): Omit<T, 'signature'> {
  const { signature: _signature, ...rest } = record
  return rest
}

/**
 * What a node does with a job, from the *verified* statements of every node (results and
 * commits whose signature, node id, job and key were checked):
 * - `failed`: a node reported failure, or two nodes reported different fingerprints: every
 *   node drops its pending share (the key keeps its live shares, nothing changed);
 * - `commit`: every node reported success with the same fingerprint: switch to the new share
 *   (`results` are those successes, the evidence a node's commit carries);
 * - `wait`: not every node has reported yet. Never decided by a clock: a node that reported
 *   success may already have switched, so giving up on time could split the cluster.
 * A job is `done` once every node's commit is in.
 */
export type RefreshDecision =
  | { kind: 'wait'; reported: number[] }
  | { kind: 'failed'; reason: string }
  | { kind: 'commit'; fingerprint: string; committed: number[]; done: boolean; results: RefreshResultRecord[] }

export function decideRefresh(clusterSize: number, results: RefreshResultRecord[], commits: RefreshCommitRecord[]): RefreshDecision {
  const failed = results.find((r) => !r.ok)
  if (failed) return { kind: 'failed', reason: `node ${failed.nodeId}: ${failed.code ?? 'FAILED'}${failed.error ? `: ${failed.error}` : ''}` }
  const prints = new Set(results.map((r) => r.fingerprint))
  if (prints.size > 1) return { kind: 'failed', reason: `nodes report different new shares (${[...prints].length} fingerprints)` }
  if (results.length < clusterSize) return { kind: 'wait', reported: results.map((r) => r.nodeId).sort((a, b) => a - b) }
  const fingerprint = results[0].fingerprint!
  const committed = commits
    .filter((c) => c.fingerprint === fingerprint)
    .map((c) => c.nodeId)
    .sort((a, b) => a - b)
  return { kind: 'commit', fingerprint, committed, done: committed.length === clusterSize, results }
}

/** A job is over (signing and presignatures of its key may go on) once it failed or is done. */
export function refreshFinished(d: RefreshDecision): boolean {
  return d.kind === 'failed' || (d.kind === 'commit' && d.done)
}
