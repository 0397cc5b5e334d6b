import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import {
  attemptBody,
  attemptFault,
  canonicalJson,
  decisionBody,
  decisionFault,
  isDoubleVote,
  type SignedVoteEvidence,
  type SigningAttemptEvidence,
  type TxDecisionEvidence,
  type ViolationDto,
} from '@tw/api'

/**
 * Offline re-verification of a violation's evidence (`threshold-wallet byzantine evidence
 * verify`): the same checks a node makes before it countersigns an accusation or honours a
 * ban, with the node certificates given by the operator instead of the ones published in etcd.
 */

/** `pass`: holds; `fail`: does not hold; `unchecked`: cannot be decided offline. */
export type CheckResult = 'pass' | 'fail' | 'unchecked'

export interface EvidenceCheck {
  check: string
  result: CheckResult
  detail: string | null
}

/**
 * `proven`: every check passes. `not-proven`: a check fails or cannot be done offline.
 * `not-transferable`: participant-only evidence (`invalid_signature`, `protocol_violation`),
 * which only the session's participants saw; it rests on the accusers' signed word.
 */
export type EvidenceVerdict = 'proven' | 'not-proven' | 'not-transferable'

export interface EvidenceReport {
  violationId: string
  type: string
  offender: number
  verdict: EvidenceVerdict
  checks: EvidenceCheck[]
  /** Accusers the reporting node listed (their signed accusations are not in the API's list: checked online only). */
  accusers: number[]
}

/** Where node `id`'s public key comes from: a key, or why there is none. */
export type KeyLookup = (nodeId: number) => { key: KeyObject } | { error: string }

/**
 * Node certificates given on the command line, each accepted only if it chains to the cluster
 * CA and names that node (`verifyNodeCertificate`, as a node checks `/tw/certs/<id>`).
 */
export function certificateKeys(caPem: string, certFiles: ReadonlyMap<number, string>): KeyLookup {
  const native = require('@tw/native') as typeof import('@tw/native')
  const cache = new Map<number, { key: KeyObject } | { error: string }>()
  return (nodeId) => {
    const known = cache.get(nodeId)
    if (known) return known
    let out: { key: KeyObject } | { error: string }
    const file = certFiles.get(nodeId)
    if (!file) {
      out = { error: `no certificate given for node ${nodeId}` }
    } else {
      try {
        const pem = readFileSync(file, 'utf8')
        native.verifyNodeCertificate(caPem, pem, nodeId)
        out = { key: createPublicKey(pem) }
      } catch (err) {
        out = { error: `certificate of node ${nodeId} (${file}) not accepted: ${err instanceof Error ? err.message : String(err)}` }
      }
    }
    cache.set(nodeId, out)
    return out
  }
}

/** Whether `signature` (base64) over canonicalJson(payload) verifies with `key`. */
export function signedBy(key: KeyObject, payload: unknown, signature: unknown): boolean {
  if (typeof signature !== 'string') return false
  try {
    return verifySignature('sha256', Buffer.from(canonicalJson(payload)), key, Buffer.from(signature, 'base64'))
  } catch {
    return false
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function isSignedVote(v: unknown): v is SignedVoteEvidence {
  return isObject(v) && isObject(v.payload) && typeof v.signature === 'string' && Number.isInteger(v.payload.nodeId) && typeof v.payload.txId === 'string'
}

const ok = (check: string, detail: string | null = null): EvidenceCheck => ({ check, result: 'pass', detail })
const bad = (check: string, detail: string | null = null): EvidenceCheck => ({ check, result: 'fail', detail })
const open = (check: string, detail: string | null = null): EvidenceCheck => ({ check, result: 'unchecked', detail })

/** A check that `payload` is signed by node `nodeId` (fails, saying why, without a usable certificate). */
function signatureCheck(label: string, keys: KeyLookup, nodeId: number, payload: unknown, signature: unknown): EvidenceCheck {
  const k = keys(nodeId)
  if ('error' in k) return bad(label, k.error)
  return signedBy(k.key, payload, signature) ? ok(label) : bad(label, `the signature does not verify with node ${nodeId}'s certificate`)
}

function doubleVote(v: ViolationDto, keys: KeyLookup): EvidenceCheck[] {
  const { first, second } = v.evidence as { first?: unknown; second?: unknown }
  if (!isSignedVote(first) || !isSignedVote(second)) return [bad('evidence holds two signed votes', 'evidence.first / evidence.second missing or malformed')]
  const checks = [ok('evidence holds two signed votes')]
  for (const [name, vote] of [
    ['first', first],
    ['second', second],
  ] as const) {
    if (vote.payload.nodeId !== v.offender) checks.push(bad(`${name} vote is node ${v.offender}'s`, `it names node ${vote.payload.nodeId}`))
    else checks.push(signatureCheck(`${name} vote signed by node ${v.offender}`, keys, v.offender, vote.payload, vote.signature))
  }
  const same = first.payload.txId === second.payload.txId
  const conflicting = isDoubleVote(first, second, v.offender)
  checks.push(
    conflicting
      ? ok('same transaction, different content', `${first.payload.txId}: ${describeVote(first)} vs ${describeVote(second)}`)
      : bad('same transaction, different content', same ? 'both votes say the same thing' : `different transactions (${first.payload.txId}, ${second.payload.txId})`),
  )
  return checks
}

const describeVote = (s: SignedVoteEvidence): string => `${s.payload.approve ? 'approve' : 'reject'} ${String(s.payload.proposalHash).slice(0, 12)}…`

/** Checks each embedded vote against its node's certificate, remembering which were valid, invalid or uncheckable. */
function voteChecker(keys: KeyLookup): { check: (vote: SignedVoteEvidence) => boolean; valid: number[]; invalid: string[]; unknown: Set<number> } {
  const out = { valid: [] as number[], invalid: [] as string[], unknown: new Set<number>() }
  const check = (vote: SignedVoteEvidence): boolean => {
    const k = keys(vote.payload.nodeId)
    if ('error' in k) {
      out.unknown.add(vote.payload.nodeId)
      return false
    }
    const good = signedBy(k.key, vote.payload, vote.signature)
    if (good) out.valid.push(vote.payload.nodeId)
    else out.invalid.push(`${vote.payload.nodeId} (bad signature)`)
    return good
  }
  return { check, ...out }
}

/**
 * A leader's signed decision on a transaction record (`evidence.decision`): signed by the
 * offender, and provably faulty from its own votes (an approval without `threshold` valid
 * approvals, a rejection without more than `clusterSize − threshold` valid rejections or
 * counted against another cluster size). Other states rest on the chain or the clock: never proven offline.
 */
async function invalidRecordDecision(v: ViolationDto, keys: KeyLookup, threshold: number, clusterSize: number): Promise<EvidenceCheck[]> {
  const d = v.evidence.decision as TxDecisionEvidence
  if (typeof d.txId !== 'string' || typeof d.state !== 'string') return [bad('evidence holds a signed decision', 'evidence.decision malformed')]
  if (d.leader !== v.offender) return [bad(`decision names node ${v.offender} as its leader`, `it names ${d.leader === undefined ? 'no leader' : `node ${String(d.leader)}`}`)]
  const checks = [ok(`decision names node ${v.offender} as its leader`, `${d.txId} → ${d.state} (term ${String(d.term)})`)]
  checks.push(signatureCheck(`decision signed by node ${v.offender}`, keys, v.offender, decisionBody(d), d.signature))
  const votes = voteChecker(keys)
  const fault = await decisionFault(d, threshold, clusterSize, votes.check)
  const kind = d.state === 'approved' ? 'approvals' : 'rejections'
  const seen = `valid signed ${kind} from node(s) ${votes.valid.join(',') || 'none'}${votes.invalid.length ? `; not counted: ${votes.invalid.join(', ')}` : ''}`
  const label = `decision is a faulty ${d.state} (threshold ${threshold} of ${clusterSize})`
  if (d.state !== 'approved' && d.state !== 'rejected') checks.push(open(label, `a ${d.state} decision rests on the chain or the clock: not provable offline`))
  else if (fault === null) checks.push(bad(label, `it is a valid decision: ${seen}`))
  else if (votes.unknown.size > 0)
    checks.push(open(label, `${fault}, but the votes of node(s) ${[...votes.unknown].sort((a, b) => a - b).join(',')} could not be checked (no accepted certificate)`))
  else checks.push(ok(label, `${fault}; ${seen}`))
  return checks
}

async function invalidDecision(v: ViolationDto, keys: KeyLookup, threshold: number, clusterSize: number): Promise<EvidenceCheck[]> {
  if (isObject(v.evidence.decision)) return invalidRecordDecision(v, keys, threshold, clusterSize)
  const attempt = v.evidence.attempt as SigningAttemptEvidence | undefined
  if (!isObject(attempt) || typeof attempt.txId !== 'string') return [bad('evidence holds a signing attempt', 'evidence.attempt missing or malformed')]
  if (attempt.leader !== v.offender)
    return [bad(`attempt names node ${v.offender} as its leader`, `it names ${attempt.leader === undefined ? 'no leader' : `node ${String(attempt.leader)}`}`)]
  const checks = [ok(`attempt names node ${v.offender} as its leader`, `${attempt.txId} attempt ${attempt.attempt}`)]
  checks.push(signatureCheck(`attempt signed by node ${v.offender}`, keys, v.offender, attemptBody(attempt), attempt.signature))
  // Every embedded approval against its own node's certificate, as a signer does.
  const valid: number[] = []
  const invalid: string[] = []
  const unknown = new Set<number>()
  const fault = await attemptFault(attempt, threshold, (vote) => {
    const k = keys(vote.payload.nodeId)
    if ('error' in k) {
      unknown.add(vote.payload.nodeId)
      return false
    }
    const good = signedBy(k.key, vote.payload, vote.signature)
    if (good) valid.push(vote.payload.nodeId)
    else invalid.push(`${vote.payload.nodeId} (bad signature)`)
    return good
  })
  const seen = `valid signed approvals from node(s) ${valid.join(',') || 'none'}${invalid.length ? `; not counted: ${invalid.join(', ')}` : ''}`
  const label = `attempt is a faulty decision (threshold ${threshold})`
  if (fault === null) checks.push(bad(label, `it is a valid decision: ${seen}`))
  else if (unknown.size > 0)
    checks.push(open(label, `${fault}, but the approvals of node(s) ${[...unknown].sort((a, b) => a - b).join(',')} could not be checked (no accepted certificate)`))
  else checks.push(ok(label, `${fault}; ${seen}`))
  return checks
}

function minorityAttack(v: ViolationDto, keys: KeyLookup): EvidenceCheck[] {
  const { vote, txId, proposalHash, broken } = v.evidence as { vote?: unknown; txId?: unknown; proposalHash?: unknown; broken?: unknown }
  if (!isSignedVote(vote)) return [bad('evidence holds a signed vote', 'evidence.vote missing or malformed')]
  if (vote.payload.nodeId !== v.offender) return [bad(`vote is node ${v.offender}'s`, `it names node ${vote.payload.nodeId}`)]
  const checks = [ok(`vote is node ${v.offender}'s`)]
  checks.push(signatureCheck(`vote signed by node ${v.offender}`, keys, v.offender, vote.payload, vote.signature))
  const wrong: string[] = []
  if (vote.payload.approve !== true) wrong.push('it is a rejection')
  if (typeof txId === 'string' && vote.payload.txId !== txId) wrong.push(`it is about ${vote.payload.txId}, not ${txId}`)
  if (typeof proposalHash === 'string' && vote.payload.proposalHash !== proposalHash) wrong.push('it is about another proposal hash')
  checks.push(
    wrong.length === 0
      ? ok('vote approves the accused proposal', `${vote.payload.txId} ${String(vote.payload.proposalHash).slice(0, 12)}…`)
      : bad('vote approves the accused proposal', wrong.join('; ')),
  )
  checks.push(
    open(
      'proposal breaks the deterministic policy',
      `policy breach not re-checked offline: it needs the proposal and the cluster's policy${typeof broken === 'string' ? ` (reported: ${broken})` : ''}`,
    ),
  )
  return checks
}

/** The fields a proposal hash covers (the node's `proposalBody`, apps/node/src/wallet/policy.ts). */
const PROPOSAL_FIELDS = ['id', 'keyId', 'type', 'to', 'amountSats', 'unsignedTx', 'inputs', 'outputs'] as const

/** sha256 of the canonical proposal body: what votes and signed results name. */
export function proposalHashOf(proposal: Record<string, unknown>): string {
  const body = Object.fromEntries(PROPOSAL_FIELDS.map((k) => [k, proposal[k]]))
  return createHash('sha256').update(canonicalJson(body)).digest('hex')
}

/**
 * `invalid_signature` accused by a leader from a signer's signed result whose signatures do not
 * verify (evidence: `result`, `proposal`). The result's signature and what it is about are
 * checked here; whether its Bitcoin signatures fail needs the wallet's public keys at the
 * inputs' paths, which only a key share gives: every node that approved the proposal checks it.
 */
function falseResult(v: ViolationDto, keys: KeyLookup): EvidenceCheck[] {
  const { result, proposal } = v.evidence as { result?: Record<string, unknown>; proposal?: Record<string, unknown> }
  if (!isObject(result) || !isObject(proposal)) return [bad('evidence holds a signed result and its proposal', 'evidence.result / evidence.proposal malformed')]
  if (result.nodeId !== v.offender) return [bad(`result is node ${v.offender}'s`, `it names node ${String(result.nodeId)}`)]
  const { signature, ...body } = result
  const checks = [ok(`result is node ${v.offender}'s`)]
  checks.push(signatureCheck(`result signed by node ${v.offender}`, keys, v.offender, body, signature))
  const hash = proposalHashOf(proposal)
  const wrong: string[] = []
  if (result.ok !== true) wrong.push('it reports a failure, not signatures')
  if (result.txId !== proposal.id) wrong.push(`it is about ${String(result.txId)}, not ${String(proposal.id)}`)
  if (result.proposalHash !== hash) wrong.push(`it names proposal hash ${String(result.proposalHash).slice(0, 12)}…, the proposal in the evidence hashes to ${hash.slice(0, 12)}…`)
  checks.push(
    wrong.length === 0
      ? ok('result reports signatures for the proposal in the evidence', `${String(proposal.id)} ${hash.slice(0, 12)}…`)
      : bad('result reports signatures for the proposal in the evidence', wrong.join('; ')),
  )
  checks.push(
    open(
      'reported signatures do not verify',
      "not re-checked offline: it needs the wallet's public keys at the inputs' paths (from a key share); every node that approved the proposal checks it",
    ),
  )
  return checks
}

/** Runs the checks of `v`'s type and reaches a verdict. `threshold` is the cluster's signing threshold, `clusterSize` its number of nodes. */
export async function verifyEvidence(v: ViolationDto, keys: KeyLookup, threshold: number, clusterSize = 5): Promise<EvidenceReport> {
  const accusers = Array.isArray(v.accusers) ? v.accusers.filter((a) => Number.isInteger(a)) : []
  const report = (verdict: EvidenceVerdict, checks: EvidenceCheck[]): EvidenceReport => ({ violationId: v.id, type: v.type, offender: v.offender, verdict, checks, accusers })
  const evidence = isObject(v.evidence) ? v : { ...v, evidence: {} }
  const notTransferable = (): EvidenceReport =>
    report('not-transferable', [
      open(
        'evidence is transferable',
        `attested by ${accusers.length} accuser(s)${accusers.length ? ` (node ${accusers.join(',')})` : ''}, not provable offline: only the session's participants saw it`,
      ),
    ])
  let checks: EvidenceCheck[]
  switch (v.type) {
    case 'double_vote':
      checks = doubleVote(evidence, keys)
      break
    case 'invalid_decision':
      checks = await invalidDecision(evidence, keys, threshold, clusterSize)
      break
    case 'minority_attack':
      checks = minorityAttack(evidence, keys)
      break
    case 'invalid_signature':
      if (isObject(v.evidence) && 'result' in v.evidence) {
        checks = falseResult(evidence, keys)
        break
      }
      return notTransferable()
    case 'protocol_violation':
      return notTransferable()
    default:
      return report('not-proven', [bad('known violation type', `"${String(v.type)}"`)])
  }
  return report(checks.every((c) => c.result === 'pass') ? 'proven' : 'not-proven', checks)
}
