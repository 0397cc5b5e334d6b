import type { TransactionStateDto, WalletType } from '@tw/api'

/** etcd layout of the wallet (all under `/tw/`). */
export const WalletKeys = {
  addressIndex: (keyId: string, chain: 0 | 1) => `/tw/wallet/index/${keyId}/${chain}`,
  txs: '/tw/tx/',
  tx: (id: string) => `/tw/tx/${id}`,
  /** Ids of the transactions not yet in a terminal state (written and deleted with the record's state). */
  actives: '/tw/tx-active/',
  active: (id: string) => `/tw/tx-active/${id}`,
  /**
   * Every node's own partition (`/tw/n/<node>/`): its votes, signing results and presignature
   * results. Only that node may write there (etcd RBAC, cluster/etcd-acl.ts); readers get
   * one key per node.
   */
  partitions: '/tw/n/',
  vote: (id: string, nodeId: number) => `/tw/n/${nodeId}/votes/${id}`,
  attemptsAll: '/tw/tx-sign/',
  attempt: (id: string, n: number) => `/tw/tx-sign/${id}/${n}`,
  result: (id: string, n: number, nodeId: number) => `/tw/n/${nodeId}/results/${id}/${n}`,
  utxoLock: (txid: string, vout: number) => `/tw/utxo-locks/${txid}:${vout}`,
  utxoLocks: '/tw/utxo-locks/',
  idempotency: (hash: string) => `/tw/idempotency/${hash}`,
  presigs: '/tw/presig/',
  presig: (id: string) => `/tw/presig/${id}`,
  presigResult: (id: string, nodeId: number) => `/tw/n/${nodeId}/presig-results/${id}`,
} as const

/** What a key in a node's partition is: `/tw/n/<node>/<kind>/<id>[/<attempt>]`, or null. */
export function partitionKey(key: string): { nodeId: number; kind: string; id: string } | null {
  const m = /^\/tw\/n\/(\d+)\/([a-z-]+)\/([^/]+)/.exec(key)
  return m ? { nodeId: Number(m[1]), kind: m[2], id: m[3] } : null
}

/** Node ids 1..`clusterSize`. */
export function clusterNodeIds(clusterSize: number): number[] {
  return Array.from({ length: clusterSize }, (_, i) => i + 1)
}

export interface TxInputRecord {
  txid: string
  vout: number
  value: number
  /** Hex scriptPubKey of the spent output (the proposer's view; voters re-derive it). */
  scriptPubKey: string
  /** [chain, index] below the key. */
  path: number[]
}

export interface TxOutputRecord {
  scriptPubKey: string
  address: string | null
  value: number
  change: boolean
  path?: number[]
}

/** `/tw/tx/<id>`: created by the proposing node, then advanced by the leader (fenced). */
export interface TxRecord {
  id: string
  type: WalletType
  keyId: string
  to: string
  amountSats: number
  feeSats: number
  feeRate: number
  vsize: number
  locktime: number
  inputs: TxInputRecord[]
  outputs: TxOutputRecord[]
  unsignedTx: string
  /** sha256 of the canonical proposal: what votes sign. */
  proposalHash: string
  proposedBy: number
  /** The proposer's identity signature over {proposalHash, proposedBy}: voters refuse an unsigned proposal. */
  proposerSignature?: string
  state: TransactionStateDto
  attempt: number
  signers: number[] | null
  signingMode: string | null
  signedTx: string | null
  txid: string | null
  error: { code: string; message: string } | null
  /** Nodes left out of this transaction's later signing attempts (culprits and refusers of earlier ones). */
  excluded?: number[]
  createdAt: string
  updatedAt: string
  history: { state: TransactionStateDto; at: string }[]
}

/** What a node signs when it votes (canonical JSON of this). */
export interface VotePayload {
  txId: string
  proposalHash: string
  nodeId: number
  approve: boolean
  reason: string | null
  votedAt: string
}

/** `/tw/n/<nodeId>/votes/<id>`: create-if-absent; signature by the node's TLS identity key. */
export interface SignedVote {
  payload: VotePayload
  /** base64 signature over canonicalJson(payload). */
  signature: string
}

/**
 * `/tw/tx-sign/<id>/<n>`: one signing attempt, written by the leader and signed with its
 * identity key; it carries the approvals it was decided on, so every signer (and anyone given
 * it as evidence) can check the decision without trusting etcd.
 */
export interface SigningAttempt {
  txId: string
  attempt: number
  signers: number[]
  mode: 'presignature' | 'full' | 'frost'
  /** Per input: the presignature allocated to it, or null (full signing). */
  presignatures: (string | null)[]
  createdAt: string
  term: string
  /** The proposal hash the attempt signs (every signer checks it against the one it approved). */
  proposalHash?: string
  /** The leader that decided it (its node id) … */
  leader?: number
  /** … the signed approvals it counted (at least `threshold`, every signer among them) … */
  approvals?: SignedVote[]
  /** … and its base64 signature over canonicalJson of every other field. */
  signature?: string
}

/**
 * Result codes of a signer that did not take part in an attempt's session (it refused, or it
 * was not running): the others would only time out, so the leader moves on at once.
 */
export const SIGNING_REFUSALS = ['NO_QUORUM', 'NOT_APPROVED', 'MISSED', 'RESTARTED', 'PROPOSAL_CHANGED', 'FINISHED', 'BAD_ATTEMPT'] as const
export type SigningRefusal = (typeof SIGNING_REFUSALS)[number]

export function isSigningRefusal(code: string): code is SigningRefusal {
  return (SIGNING_REFUSALS as readonly string[]).includes(code)
}

/** `/tw/n/<nodeId>/results/<id>/<n>`: signed by the node. */
export type SigningResult = (
  | { nodeId: number; ok: true; signatures: string[]; reportedAt: string }
  | { nodeId: number; ok: false; code: string; error: string; culprits: number[]; reportedAt: string }
) & {
  /** What the result is about (signed with it). */
  txId?: string
  attempt?: number
  proposalHash?: string
  /** The reporter's base64 identity signature over every other field: only signed results count. */
  signature?: string
}

/** `/tw/idempotency/<sha256(key)>`. */
export interface IdempotencyRecord {
  txId: string
  bodyHash: string
}

export type PresigStatus = 'generating' | 'ready' | 'allocated' | 'used' | 'burned'

/** `/tw/presig/<id>`: one presignature's life, written by the leader. */
export interface PresigRecord {
  id: string
  keyId: string
  path: number[]
  signers: number[]
  status: PresigStatus
  txId: string | null
  createdAt: string
  term: string
}

/** `/tw/n/<nodeId>/presig-results/<id>`. */
export interface PresigResult {
  nodeId: number
  ok: boolean
  code?: string
  error?: string
}

export const TERMINAL_STATES: TransactionStateDto[] = ['confirmed', 'rejected', 'failed', 'expired']

export function pathString(path: number[]): string {
  return ['m', ...path].join('/')
}
