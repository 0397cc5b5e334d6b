/**
 * Pure checks of Byzantine evidence, shared by whoever re-verifies a violation without
 * trusting the node that reported it (the CLI's `byzantine evidence verify` offline, and
 * any node). No crypto here: signature checks are passed in, so this runs anywhere.
 *
 * These mirror, byte for byte in their verdicts, the node's own checks:
 * `canonicalJson` (apps/node/src/common/canonical-json.ts), `isDoubleVote`
 * (apps/node/src/byzantine/byzantine.service.ts), `attemptBody` and `attemptFault`
 * (apps/node/src/wallet/leader-decision.ts). apps/node/src/byzantine/evidence.spec.ts holds
 * them to the same answers.
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
export async function attemptFault(
  attempt: SigningAttemptEvidence,
  threshold: number,
  voteSigned: (v: SignedVoteEvidence) => Promise<boolean> | boolean,
): Promise<string | null> {
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
