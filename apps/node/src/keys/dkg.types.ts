import type { KeyProtocol, KeyStatus } from '@tw/api'
import { isSignedBy, type VerifySigned } from '../common/signed'

/**
 * `/tw/dkg-requests/<jobId>`: written by any node (its API took the request), signed by its
 * identity key; turned into a job by the leader.
 */
export interface DkgRequestRecord {
  jobId: string
  protocol: KeyProtocol
  requestedBy: number
  requestedAt: string
  signature: string
}

/**
 * `/tw/dkg/<jobId>`: written by the leader (fenced) and signed by it, carrying the signed
 * request it was made from; every node checks both ({@link dkgJobFault}) and runs it once.
 */
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
  request: DkgRequestRecord
  signature: string
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

/**
 * `/tw/aux/current`: the ECDSA aux info generation in force, written by the leader (fenced) and
 * signed by it; a node runs a generation only if {@link auxFault} finds nothing (each run
 * consumes one of its safe-prime sets).
 */
export interface AuxRecord {
  auxId: string
  generation: number
  sessionId: string
  createdAt: string
  completedAt: string | null
  createdBy: number
  signature: string
}

/** The key id a job produces: protocol-prefixed, so ids tell their kind. */
export function keyIdFor(protocol: KeyProtocol, jobId: string): string {
  return `${protocol}-${jobId}`
}

/** Whether a DKG request is signed by the node it names. */
export async function dkgRequestValid(r: DkgRequestRecord, verify: VerifySigned): Promise<boolean> {
  return isSignedBy(r, r?.requestedBy, verify)
}

/**
 * Why a node refuses to run a DKG job, or null: the job must carry the signed request it was
 * made from (same job id and protocol), derive its key and session ids from the job id, and be
 * signed by the node it names as its creator. A job written or rewritten by anything holding
 * etcd write access alone never runs.
 */
export async function dkgJobFault(job: DkgJobRecord, verify: VerifySigned): Promise<string | null> {
  const r = job.request
  if (!r || r.jobId !== job.jobId || r.protocol !== job.protocol) return 'the job does not carry its request'
  if (!(await dkgRequestValid(r, verify))) return `its request is not signed by node ${r.requestedBy}`
  if (job.keyId !== keyIdFor(job.protocol, job.jobId) || job.sessionId !== `dkg-${job.jobId}`) return 'its key or session id is not the one of its job id'
  if (job.protocol === 'ecdsa' ? typeof job.auxId !== 'string' : job.auxId !== null) return 'its aux info id does not fit its protocol'
  return (await isSignedBy(job, job.createdBy, verify)) ? null : `not signed by node ${job.createdBy}`
}

/** Why a node refuses to run an aux info generation, or null: it must be signed by the node it names. */
export async function auxFault(aux: AuxRecord, verify: VerifySigned): Promise<string | null> {
  if (aux.auxId !== `aux-${aux.generation}`) return 'its id is not the one of its generation'
  return (await isSignedBy(aux, aux.createdBy, verify)) ? null : `not signed by node ${aux.createdBy}`
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
