import type { SignedVoteEvidence, SigningAttemptEvidence, TransactionStateDto, TxDecisionEvidence, VotePayloadEvidence, WalletType } from '@tw/api'

/** etcd layout of the wallet (all under `/tw/`). */
export const WalletKeys = {
  addressIndex: (keyId: string, chain: 0 | 1) => `/tw/wallet/index/${keyId}/${chain}`,
  /** An operator's label of the address at m/<chain>/<index> (written with the index it takes). */
  addressLabel: (keyId: string, chain: 0 | 1, index: number) => `/tw/address-labels/${keyId}/${chain}/${index}`,
  addressLabels: (keyId: string) => `/tw/address-labels/${keyId}/`,
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
  /** A node's signed no-confidence mark against the leader of `term` (it stalled a transaction). */
  noConfidence: (term: string, nodeId: number) => `/tw/n/${nodeId}/no-confidence/${term}`,
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

export type ReplacementKind = 'bump' | 'cancel'

/** `/tw/tx/<id>`: created by the proposing node, then advanced by the leader (fenced). */
export interface TxRecord {
  id: string
  /** The id of the API request that made it (`X-Request-Id`, or the one the node gave it): every node's log lines about it carry it. Not part of the proposal. */
  requestId?: string | null
  type: WalletType
  keyId: string
  /** The first (or only) recipient. */
  to: string
  /** What the payments add up to (the fee not included). */
  amountSats: number
  /** A batch's payments, in output order (absent for one payment: `to` and `amountSats` say it). */
  recipients?: { to: string; amountSats: number }[]
  /** The request's note and external reference (absent when not given); part of the proposal. */
  memo?: string
  externalId?: string
  /**
   * A BIP125 replacement of broadcast transaction `of` (part of the proposal): `bump` pays the
   * same payments at a higher fee rate, `cancel` pays its coins back to the wallet. It spends
   * exactly the inputs of `of`, whose coin reservations it shares (never releases but by
   * confirming).
   */
  replacement?: { of: string; kind: ReplacementKind }
  /** A consolidation (part of the proposal): no payment, the coins to one change output of the wallet. */
  consolidation?: true
  /** Set by the leader on a transaction that ended failed REPLACED: the replacement the chain took instead. */
  replacedBy?: string
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
  /** The leader's signed decision that put the record in `state` (every state after voting). */
  decision?: TxDecision
  createdAt: string
  updatedAt: string
  history: { state: TransactionStateDto; at: string }[]
}

/** What a node signs when it votes (canonical JSON of this): @tw/api's evidence type, one definition for node and CLI. */
export type VotePayload = VotePayloadEvidence

/** `/tw/n/<nodeId>/votes/<id>`: create-if-absent; `signature` (base64) over canonicalJson(payload) by the node's TLS identity key. */
export type SignedVote = SignedVoteEvidence

/**
 * `/tw/tx-sign/<id>/<n>`: one signing attempt, written by the leader and signed with its
 * identity key; it carries the approvals it was decided on (`proposalHash`, `leader`,
 * `approvals`, `signature`), so every signer (and anyone given it as evidence) can check the
 * decision without trusting etcd. @tw/api's evidence type with the node's signing modes.
 */
export type SigningAttempt = Omit<SigningAttemptEvidence, 'mode'> & { mode: 'presignature' | 'full' | 'frost' }

/**
 * The leader's signed decision carried by a transaction record (`TxRecord.decision`), for
 * every state after voting: followers treat a state as decided only when this is signed by the
 * node it names and checks out against their own view (tx-worker `decisionVerdict`).
 */
export type TxDecision = Omit<TxDecisionEvidence, 'state' | 'from'> & { state: TransactionStateDto; from: TransactionStateDto }

/**
 * `/tw/n/<nodeId>/no-confidence/<term>`: a follower's signed statement that the leader of
 * `term` stalled a transaction it could advance (while alive). A quorum of them ends that term
 * like a verified ban (cluster.service `enforceNoConfidence`); never an accusation.
 */
export interface NoConfidenceMark {
  term: string
  leader: number
  nodeId: number
  txId: string
  state: TransactionStateDto
  reason: string
  at: string
  /** base64 identity signature of `nodeId` over every other field. */
  signature?: string
}

/** What a node signs of its no-confidence mark: every field but the signature. */
export function noConfidenceBody(mark: NoConfidenceMark): Omit<NoConfidenceMark, 'signature'> {
  const { signature: _signature, ...body } = mark
  return body
}

/**
 * Result codes of a signer that did not take part in an attempt's session (it refused, or it
 * was not running): the others would only time out, so the leader moves on at once.
 */
export const SIGNING_REFUSALS = ['NO_QUORUM', 'NOT_APPROVED', 'MISSED', 'RESTARTED', 'PROPOSAL_CHANGED', 'FINISHED', 'BAD_ATTEMPT', 'KEY_REFRESHING'] as const
export type SigningRefusal = (typeof SIGNING_REFUSALS)[number]

export function isSigningRefusal(code: string): code is SigningRefusal {
  return (SIGNING_REFUSALS as readonly string[]).includes(code)
}

/** `/tw/n/<nodeId>/results/<id>/<n>`: signed by the node. */
export type SigningResult = (
  { nodeId: number; ok: true; signatures: string[]; reportedAt: string } | { nodeId: number; ok: false; code: string; error: string; culprits: number[]; reportedAt: string }
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
