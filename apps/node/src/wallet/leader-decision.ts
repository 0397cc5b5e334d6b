import { attemptBody as sharedAttemptBody, attemptFault as sharedAttemptFault } from '@tw/api'
import type { SignedVote, SigningAttempt } from './wallet.types'

/** What a leader signs of a signing attempt: every field but the signature. */
export function attemptBody(attempt: SigningAttempt): Omit<SigningAttempt, 'signature'> {
  return sharedAttemptBody(attempt) as Omit<SigningAttempt, 'signature'>
}

/**
 * Why a signing attempt is a decision no honest leader makes, or null when it is a valid one
 * (DESIGN §5 trust model (e)): the attempt must carry at least `threshold` validly signed
 * approvals of exactly its transaction and proposal hash, from distinct nodes, and name only
 * approvers as its `threshold` distinct signers. Everything needed is in the attempt itself,
 * so a faulty attempt signed by its leader is transferable evidence against that leader. The
 * check is @tw/api's, the same the CLI runs offline (`byzantine evidence verify`).
 *
 * @example
 * const fault = await attemptFault(attempt, 4, (v) => identity.verify(v.payload.nodeId, v.payload, v.signature))
 * if (fault) await byzantine.accuse('invalid_decision', attempt.leader, …, { attempt })
 */
export function attemptFault(attempt: SigningAttempt, threshold: number, voteSigned: (v: SignedVote) => Promise<boolean>): Promise<string | null> {
  return sharedAttemptFault(attempt, threshold, (v) => voteSigned(v as SignedVote))
}
