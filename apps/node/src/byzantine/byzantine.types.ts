import type { ViolationType } from '@tw/api'

/** etcd layout of Byzantine bookkeeping. */
export const ByzantineKeys = {
  violations: '/tw/violations/',
  violation: (id: string) => `/tw/violations/${id}`,
  /** Node `nodeId`'s accusations, in its own partition (only it may write there). */
  accusationsBy: (nodeId: number) => `/tw/n/${nodeId}/accusations/`,
  accusation: (id: string, nodeId: number) => `/tw/n/${nodeId}/accusations/${id}`,
  unban: (nodeId: number) => `/tw/unbans/${nodeId}`,
  drill: (nodeId: number) => `/tw/drill/${nodeId}`,
} as const

/** `/tw/violations/<id>`: created by the first accuser; its status is the leader's (fenced). */
export interface ViolationRecord {
  id: string
  type: ViolationType
  offender: number
  sessionId: string | null
  evidence: Record<string, unknown>
  reportedBy: number
  reportedAt: string
  status: 'reported' | 'proven'
  provenAt: string | null
}

/** What an accuser signs. */
export interface AccusationPayload {
  violationId: string
  type: ViolationType
  offender: number
  sessionId: string | null
  accuser: number
  at: string
}

/** `/tw/n/<accuser>/accusations/<violationId>`: create-if-absent, signed by the accuser. */
export interface SignedAccusation {
  payload: AccusationPayload
  signature: string
}

/** `/tw/bans/<id>` (the cluster service reads `nodeId`, `reason`, `bannedAt`). */
export interface BanRecordWithEvidence {
  nodeId: number
  reason: string
  bannedAt: string
  violations: string[]
}

/**
 * `/tw/unbans/<id>`: violations reported before `unbannedAt` no longer count. Signed by the
 * node whose API took the operator's request (`signedBy`, never the unbanned node itself): an
 * unban that does not verify lifts nothing, so etcd write access alone cannot lift a ban.
 */
export interface UnbanRecord {
  nodeId: number
  unbannedAt: string
  /** Who asked (the API caller). */
  by: string
  signedBy: number
  /** `signedBy`'s identity signature over the record without this field. */
  signature: string
}
