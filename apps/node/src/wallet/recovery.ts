import type { KeyProtocol, RecoveredTxDto, TransactionStateDto } from '@tw/api'
import { canonicalJson } from '../common/canonical-json'
import type { KeyRecord } from '../keys/dkg.types'
import type { TxRecord } from './wallet.types'

/**
 * `/tw/n/<nodeId>/shares/<keyId>`: a node's signed statement that its keystore holds a share of
 * `keyId` with these public facts (nothing secret). Every node publishes one per key it holds;
 * after etcd lost the cluster's state, `cluster recover` re-registers a key only when every
 * node's statement says the same.
 */
export interface ShareClaim {
  keyId: string
  protocol: KeyProtocol
  publicKey: string
  chainCode: string
  outputKey: string | null
  nodeId: number
  /** base64 identity signature of `nodeId` over every other field. */
  signature: string
}

/** What every node must agree on for a key to be re-registered. */
function facts(c: Pick<ShareClaim, 'keyId' | 'protocol' | 'publicKey' | 'chainCode' | 'outputKey'>): string {
  return canonicalJson({ keyId: c.keyId, protocol: c.protocol, publicKey: c.publicKey, chainCode: c.chainCode, outputKey: c.outputKey })
}

export interface KeyAgreement {
  keyId: string
  protocol: KeyProtocol
  /** The claim every node made, when they all made the same one. */
  agreed: ShareClaim | null
  /** Nodes whose (verified) claim names the key. */
  claimedBy: number[]
  /** Why the key is not agreed, or null. */
  problem: string | null
}

/**
 * Groups verified share claims by key: a key is agreed only when every node of `nodes` claims
 * it, all with the same protocol, public key, chain code and output key. A key some node holds
 * no share of (or a different one) would not sign 4-of-5 with the others, or would name
 * addresses some node refuses: it is left out, naming who differs.
 */
export function keyAgreement(claims: ShareClaim[], nodes: number[]): KeyAgreement[] {
  const byKey = new Map<string, ShareClaim[]>()
  for (const c of claims) byKey.set(c.keyId, [...(byKey.get(c.keyId) ?? []), c])
  return [...byKey.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([keyId, list]) => {
      const claimedBy = [...new Set(list.map((c) => c.nodeId))].sort((a, b) => a - b)
      const missing = nodes.filter((n) => !claimedBy.includes(n))
      const first = list[0]
      const differing = [...new Set(list.filter((c) => facts(c) !== facts(first)).map((c) => c.nodeId))]
      const problem = missing.length
        ? `node(s) ${missing.join(', ')} hold no share of it (or have not said so yet)`
        : differing.length
          ? `node(s) ${differing.join(', ')} hold a share with other public facts than node ${first.nodeId}`
          : null
      return { keyId, protocol: first.protocol, agreed: problem ? null : first, claimedBy, problem }
    })
}

/** When the key was made: its job id starts with the time in base 36 (keys.service), else `fallback`. */
export function keyCreatedAt(keyId: string, protocol: KeyProtocol, fallback: string): string {
  const jobId = keyId.startsWith(`${protocol}-`) ? keyId.slice(protocol.length + 1) : keyId
  const head = jobId.split('-')[0] ?? ''
  const ms = /^[0-9a-z]{1,11}$/.test(head) ? parseInt(head, 36) : NaN
  // A time from 2017 up to a day ahead of this clock; anything else is not a keys.service job id.
  return Number.isSafeInteger(ms) && ms > 1_500_000_000_000 && ms <= Date.now() + 86_400_000 ? new Date(ms).toISOString() : fallback
}

/** The `/tw/keys/<keyId>` record re-registered from an agreed claim (active since the key was made). */
export function recoveredKeyRecord(claim: ShareClaim, claimedBy: number[], now: string): KeyRecord {
  const createdAt = keyCreatedAt(claim.keyId, claim.protocol, now)
  return {
    keyId: claim.keyId,
    jobId: claim.keyId.startsWith(`${claim.protocol}-`) ? claim.keyId.slice(claim.protocol.length + 1) : claim.keyId,
    protocol: claim.protocol,
    status: 'active',
    publicKey: claim.publicKey,
    chainCode: claim.chainCode,
    outputKey: claim.outputKey,
    reportedBy: claimedBy,
    createdAt,
    activatedAt: createdAt,
    error: null,
  }
}

/**
 * The next index to hand out on one address chain after a gap-limit scan: `used(i)` says
 * whether the chain shows a transaction for the address at index i. Scans from 0 and stops
 * after `gap` unused addresses in a row (BIP44), reading at most `maxIndex` + 1 addresses.
 * Resolves to the last used index, or null when none of them was used.
 */
export async function lastUsedIndex(used: (indexes: number[]) => Promise<boolean[]>, gap: number, maxIndex = 100_000): Promise<number | null> {
  let last: number | null = null
  let next = 0
  while (next <= maxIndex && next - (last ?? -1) <= gap) {
    const batch = Array.from({ length: Math.min(gap, maxIndex + 1 - next) }, (_, i) => next + i)
    const flags = await used(batch)
    flags.forEach((u, i) => {
      if (u) last = batch[i]
    })
    next += batch.length
  }
  return last
}

/** What the chain says of a send whose record etcd lost. */
export interface LostTxFacts {
  /** Its txid (from the unsigned transaction: a SegWit or Taproot txid leaves the witnesses out). */
  status: 'confirmed' | 'mempool' | 'unknown'
  /** A signed copy from some node's history (checked to have the same txid). */
  signedCopy: boolean
  /** The chain's answer to broadcasting that copy again (null: accepted or not tried). */
  rebroadcastRefused: string | null
  /** One of its inputs is spent by another transaction (in a block or the mempool). */
  inputSpentElsewhere: boolean
}

export const UNFINISHED_STATES: TransactionStateDto[] = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast']

/**
 * How `cluster recover` ends a send that was unfinished when etcd lost its record, from the
 * chain alone: on the chain → confirmed or broadcast; a signed copy the chain takes again →
 * broadcast; an input spent by another transaction → failed INPUTS_SPENT_ELSEWHERE; never
 * signed and its coins unspent → failed RECORD_LOST (nothing was paid; the coins are free
 * again). A signed copy the chain refuses for another reason is left as it is (unresolved):
 * it may still confirm, so its coins must not be spent elsewhere by a new send first.
 */
export function resolveLost(record: Pick<TxRecord, 'id' | 'state'>, txid: string, f: LostTxFacts): Omit<RecoveredTxDto, 'action'> {
  const base = { id: record.id, txid, from: record.state }
  if (f.status === 'confirmed') return { ...base, to: 'confirmed', code: null, message: 'confirmed on the chain' }
  if (f.status === 'mempool') return { ...base, to: 'broadcast', code: null, message: 'in the mempool: run cluster recover again once it confirmed' }
  if (f.signedCopy && f.rebroadcastRefused === null) return { ...base, to: 'broadcast', code: null, message: 'broadcast again from a signed copy in the history' }
  if (f.inputSpentElsewhere) {
    return { ...base, to: 'failed', code: 'INPUTS_SPENT_ELSEWHERE', message: 'an input is spent by another transaction: this one can never confirm' }
  }
  if (f.signedCopy) return { ...base, to: record.state, code: null, message: `the chain refuses its signed copy (${f.rebroadcastRefused}); left as it is` }
  return {
    ...base,
    to: 'failed',
    code: 'RECORD_LOST',
    message: 'its record was lost with etcd, no history holds a signed copy and the chain never saw it: nothing was paid, its coins are free again',
  }
}
