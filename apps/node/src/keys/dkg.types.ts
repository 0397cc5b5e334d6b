import type { KeyProtocol, KeyStatus } from '@tw/api'

/** `/tw/dkg-requests/<jobId>`: written by any node, turned into a job by the leader. */
export interface DkgRequestRecord {
  jobId: string
  protocol: KeyProtocol
  requestedBy: number
  requestedAt: string
}

/** `/tw/dkg/<jobId>`: written by the leader (fenced); every node runs it once. */
export interface DkgJobRecord {
  jobId: string
  protocol: KeyProtocol
  keyId: string
  sessionId: string
  /** ECDSA only: the aux info generation every node uses. */
  auxId: string | null
  createdAt: string
  createdBy: number
  term: string
}

/** `/tw/dkg/<jobId>/result/<nodeId>`: one node's outcome. */
export type DkgResultRecord =
  | { nodeId: number; ok: true; publicKey: string; chainCode: string; outputKey?: string; reportedAt: string }
  | { nodeId: number; ok: false; code: string; error: string; reportedAt: string }

/** `/tw/keys/<keyId>`: the key's status, written by the leader (fenced). */
export interface KeyRecord {
  keyId: string
  jobId: string
  protocol: KeyProtocol
  status: KeyStatus
  publicKey: string | null
  chainCode: string | null
  outputKey: string | null
  reportedBy: number[]
  createdAt: string
  activatedAt: string | null
  error: string | null
}

/** `/tw/aux/current`: the ECDSA aux info generation in force. */
export interface AuxRecord {
  auxId: string
  generation: number
  sessionId: string
  createdAt: string
  completedAt: string | null
}

/** `/tw/aux/results/<auxId>/<nodeId>`. */
export interface AuxResultRecord {
  nodeId: number
  ok: boolean
  code?: string
  error?: string
  reportedAt: string
}

/** Splits `/tw/dkg/<jobId>[/result/<nodeId>]`. */
export function parseDkgKey(key: string): { jobId: string; resultOf: number | null } | null {
  const m = /^\/tw\/dkg\/([A-Za-z0-9._-]+)(?:\/result\/(\d+))?$/.exec(key)
  if (!m) return null
  return { jobId: m[1], resultOf: m[2] ? Number(m[2]) : null }
}
