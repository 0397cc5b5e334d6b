import type { SignedVote, SigningAttempt } from './wallet.types'

/** What a leader signs of a signing attempt: every field but the signature. */
export function attemptBody(attempt: SigningAttempt): Omit<SigningAttempt, 'signature'> {
  const { signature: _signature, ...body } = attempt
  return body
}

/**
 * Why a signing attempt is a decision no honest leader makes, or null when it is a valid one
 * (DESIGN §5 trust model (e)): the attempt must carry at least `threshold` validly signed
 * approvals of exactly its transaction and proposal hash, from distinct nodes, and name only
 * approvers as its `threshold` distinct signers. Everything needed is in the attempt itself,
 * so a faulty attempt signed by its leader is transferable evidence against that leader.
 *
 * @example
 * const fault = await attemptFault(attempt, 4, (v) => identity.verify(v.payload.nodeId, v.payload, v.signature))
 * if (fault) await byzantine.accuse('invalid_decision', attempt.leader, …, { attempt })
 */
export async function attemptFault(attempt: SigningAttempt, threshold: number, voteSigned: (v: SignedVote) => Promise<boolean>): Promise<string | null> {
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
