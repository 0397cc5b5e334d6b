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

/**
 * `/tw/n/<nodeId>/dkg-results/<jobId>`: one node's outcome, in its own partition (etcd RBAC:
 * only that node may write there, cluster/etcd-acl.ts).
 */
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

/** `/tw/n/<nodeId>/aux-results/<auxId>`: one node's outcome, in its own partition. */
export interface AuxResultRecord {
  nodeId: number
  ok: boolean
  code?: string
  error?: string
  reportedAt: string
}

/**
 * The job id of a job key `/tw/dkg/<jobId>`, or null for anything else under `/tw/dkg/`
 * (such as results written there by a version that kept them under the shared prefix: no
 * longer read).
 */
export function parseDkgKey(key: string): { jobId: string } | null {
  const m = /^\/tw\/dkg\/([A-Za-z0-9._-]+)$/.exec(key)
  return m ? { jobId: m[1] } : null
}

/** Partition kinds (`/tw/n/<id>/<kind>/…`) holding key generation results. */
export const KEYGEN_RESULT_KINDS: ReadonlySet<string> = new Set(['dkg-results', 'aux-results'])
