/**
 * Pure checks of Byzantine evidence, shared by whoever re-verifies a violation without
 * trusting the node that reported it (the CLI's `byzantine evidence verify` offline, and
 * any node). No crypto here: signature checks are passed in, so this runs anywhere.
 *
 * The node uses these same functions (one implementation, not a copy): its `canonicalJson`
 * (apps/node/src/common/canonical-json.ts) and `isDoubleVote` (byzantine.service.ts) re-export
 * or wrap them, apps/node/src/wallet/leader-decision.ts builds on `attemptBody`/`attemptFault`,
 * and the worker and judge call `decisionBody`/`decisionFault` directly.
 */

/** What a node signs when it votes (the node's `VotePayload`). */
export interface VotePayloadEvidence {
  txId: string
  proposalHash: string
  nodeId: number
  approve: boolean
  reason: string | null
  votedAt: string
}

/** A signed vote as it sits in etcd and in violation evidence (the node's `SignedVote`). */
export interface SignedVoteEvidence {
  payload: VotePayloadEvidence
  /** base64 signature over canonicalJson(payload) with the voter's TLS identity key. */
  signature: string
}

/** A leader's signed signing attempt (the node's `SigningAttempt`), as `invalid_decision` evidence carries it. */
export interface SigningAttemptEvidence {
  txId: string
  attempt: number
  signers: number[]
  mode: string
  presignatures: (string | null)[]
  createdAt: string
  term: string
  proposalHash?: string
  leader?: number
  approvals?: SignedVoteEvidence[]
  /** base64 signature over canonicalJson of every other field. */
  signature?: string
}

/**
 * Canonical JSON: object keys sorted (recursively), no whitespace, `undefined` members
 * dropped — what every node signature covers.
 *
 * @example canonicalJson({ b: 1, a: [true, null] }) === '{"a":[true,null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number')
    if (typeof value === 'bigint') return JSON.stringify(value.toString())
    return JSON.stringify(value) ?? 'null'
  }
  if (value instanceof Date) return JSON.stringify(value.toISOString())
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

/** Whether two signed votes are a double vote by `offender`: same transaction, different content (signatures not checked). */
export function isDoubleVote(a: SignedVoteEvidence, b: SignedVoteEvidence, offender: number): boolean {
  return (
    a?.payload?.nodeId === offender &&
    b?.payload?.nodeId === offender &&
    a.payload.txId === b.payload.txId &&
    (a.payload.approve !== b.payload.approve || a.payload.proposalHash !== b.payload.proposalHash)
  )
}

/** What a leader signs of a signing attempt: every field but the signature. */
export function attemptBody(attempt: SigningAttemptEvidence): Omit<SigningAttemptEvidence, 'signature'> {
  const { signature: _signature, ...body } = attempt
  return body
}

/**
 * Why a signing attempt is a decision no honest leader makes, or null when it is a valid one:
 * it must carry at least `threshold` validly signed approvals of exactly its transaction and
 * proposal hash, from distinct nodes, and name only approvers as its `threshold` distinct
 * signers. `voteSigned` says whether a vote's signature is its voter's.
 */
export async function attemptFault(attempt: SigningAttemptEvidence, threshold: number, voteSigned: (v: SignedVoteEvidence) => Promise<boolean> | boolean): Promise<string | null> {
  if (typeof attempt.proposalHash !== 'string') return 'names no proposal hash'
  const approvers = new Set<number>()
  for (const v of Array.isArray(attempt.approvals) ? attempt.approvals : []) {
    if (v?.payload?.txId !== attempt.txId || v.payload.proposalHash !== attempt.proposalHash || v.payload.approve !== true) continue
    if (await voteSigned(v)) approvers.add(v.payload.nodeId)
  }
  if (approvers.size < threshold) return `carries ${approvers.size} valid signed approvals of its proposal (needs ${threshold})`
  const signers = Array.isArray(attempt.signers) ? attempt.signers : []
  if (signers.length !== threshold || new Set(signers).size !== signers.length) return `names ${signers.length} signers (needs ${threshold} distinct ones)`
  const outsiders = signers.filter((s) => !approvers.has(s))
  if (outsiders.length > 0) return `names signer(s) ${outsiders.join(',')} that did not approve the proposal`
  return null
}

/**
 * A leader's signed decision on a transaction record (the node's `TxDecision`): every state it
 * moves a transaction to after voting carries one, written in the same etcd put as the state.
 * Followers act on a state (treat it final, mirror it) only when its decision is signed by the
 * node it names and passes {@link decisionFault}; a signed faulty one is `invalid_decision`
 * evidence (`evidence.decision`).
 */
export interface TxDecisionEvidence {
  txId: string
  /** The state the leader moved the transaction to. */
  state: string
  /** The state it moved it from. */
  from: string
  /** The signing attempt the record names when decided. */
  attempt: number
  proposalHash: string
  term: string
  leader: number
  /** The cluster size the leader counted rejections against. */
  clusterSize: number
  /** The record's error as decided (`rejected`, `failed`, `expired`, a retry's cause). */
  error: { code: string; message: string } | null
  /** Signers left out of this transaction's later attempts. */
  excluded: number[]
  /** The signed votes it rests on: ≥ threshold approvals (`approved`), enough rejections to make approval impossible (`rejected`). */
  votes: SignedVoteEvidence[]
  /** The chain's answer it rests on (`failed` by the chain, `broadcast`, `confirmed`): not provable offline. */
  chain?: Record<string, unknown>
  decidedAt: string
  /** base64 signature over canonicalJson of every other field, by `leader`'s identity key. */
  signature?: string
}

/** What a leader signs of a decision: every field but the signature. */
export function decisionBody(decision: TxDecisionEvidence): Omit<TxDecisionEvidence, 'signature'> {
  const { signature: _signature, ...body } = decision
  return body
}

/** The states whose decision rests on signed votes, and so can be proven wrong offline. */
export const VOTE_DECISIONS = ['approved', 'rejected'] as const

/**
 * Why a signed decision is one no honest leader makes, judged from the decision alone (so a
 * faulty one is transferable evidence), or null when nothing in it is provably wrong:
 * - `approved`: at least `threshold` validly signed approvals of exactly its transaction and
 *   proposal hash, from distinct nodes;
 * - `rejected`: more than `clusterSize − threshold` validly signed rejections of exactly that
 *   proposal (approval has become impossible), and the leader counted against the real cluster
 *   size;
 * - every other state rests on what cannot be proven offline (the chain's answer, liveness,
 *   the clock): null. Followers still check those against their own view before acting.
 * `voteSigned` says whether a vote's signature is its voter's.
 *
 * @example
 * const fault = await decisionFault(tx.decision, 4, 5, (v) => identity.verify(v.payload.nodeId, v.payload, v.signature))
 */
export async function decisionFault(
  decision: TxDecisionEvidence,
  threshold: number,
  clusterSize: number,
  voteSigned: (v: SignedVoteEvidence) => Promise<boolean> | boolean,
): Promise<string | null> {
  if (decision.state !== 'approved' && decision.state !== 'rejected') return null
  if (typeof decision.proposalHash !== 'string') return 'names no proposal hash'
  const approve = decision.state === 'approved'
  const voters = new Set<number>()
  for (const v of Array.isArray(decision.votes) ? decision.votes : []) {
    if (v?.payload?.txId !== decision.txId || v.payload.proposalHash !== decision.proposalHash || v.payload.approve !== approve) continue
    if (voters.has(v.payload.nodeId)) continue
    if (await voteSigned(v)) voters.add(v.payload.nodeId)
  }
  if (approve) return voters.size < threshold ? `approves with ${voters.size} valid signed approvals of its proposal (needs ${threshold})` : null
  if (decision.clusterSize !== clusterSize) return `counts rejections against a cluster of ${String(decision.clusterSize)} (the cluster has ${clusterSize})`
  const needed = clusterSize - threshold + 1
  return voters.size < needed ? `rejects with ${voters.size} valid signed rejections of its proposal (needs ${needed}: approval was still possible)` : null
}
