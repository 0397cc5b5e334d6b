import { createHash } from 'node:crypto'
import type { EtcdEntry } from '../cluster/etcd.repository'
import { proposalHash } from './policy'
import { blame } from './signing-check'
import { isSigningRefusal, type PresigRecord, type SignedVote, type SigningAttempt, type SigningResult, type TxRecord } from './wallet.types'

/** Voting closes unanswered after this long (the proposal expires, its coins are freed). */
export const VOTING_DEADLINE_MS = 5 * 60_000
/** How long the leader waits for late votes when they could make a presignature set usable. */
export const VOTE_GRACE_MS = 3000
/** Signing attempts per transaction before it fails. */
export const MAX_ATTEMPTS = 3

/** A transaction's votes as the leader counts them. */
export interface Ballots {
  /** Every node with a vote record (valid or not). */
  voted: Set<number>
  /** Nodes with a validly signed approval / rejection of exactly this proposal. */
  approvers: number[]
  rejecters: number[]
  /** The valid signed approvals themselves (an attempt carries those of its signers, an approval all of them) … */
  approvals: SignedVote[]
  /** … and the valid signed rejections (a rejection carries them). */
  rejections: SignedVote[]
}

export type OkResult = Extract<SigningResult, { ok: true }>
type FailedResult = Extract<SigningResult, { ok: false }>
type Failure = { code: string; message: string }

/** What the leader sees when it decides a transaction's next step: all of it read before, nothing read during. */
export interface DecideInput {
  record: TxRecord
  /** The valid votes (see {@link Ballots}); read for `voting`/`pending`, `approved` and an attempt that is gone. */
  ballots: Ballots
  /** The current attempt's record (`signing`), null when it is missing. */
  attempt: SigningAttempt | null
  /** The attempt's results, each already verified as signed by the signer it names. */
  results: SigningResult[]
  /** Whether a reported set of signatures verifies for the wallet's key (null: the key is not active). */
  signaturesValid: ((r: OkResult) => boolean) | null
  /** The presignature pool (read for a SegWit send about to sign; empty otherwise): only ready ones of the send's key count. */
  pool: EtcdEntry<PresigRecord>[]
  /** Signers the last failure excluded from the next attempt only (faults, not misbehaviour). */
  exclude: number[]
  cluster: {
    threshold: number
    clusterSize: number
    up: number[]
    banned: number[]
    /** A share refresh of the transaction's key is switching shares: no session now. */
    keyPaused: boolean
    /** A signing session's timeout (per input). */
    sessionTimeoutMs: number
  }
  now: number
}

/**
 * The leader's next step for one transaction. `wait` writes nothing; every other kind is one
 * fenced write (or, for `broadcast`/`track`, a question to the chain whose answer is the next
 * write). `accuse` lists reports of signatures that do not verify: each is evidence against its
 * signer, whatever the step.
 */
export type Decision =
  | { kind: 'wait'; why: string }
  | { kind: 'approve'; votes: SignedVote[] }
  | { kind: 'reject'; votes: SignedVote[]; error: Failure }
  | { kind: 'expire'; error: Failure }
  | { kind: 'fail'; error: Failure }
  | { kind: 'attempt'; attempt: number; signers: number[]; picks: EtcdEntry<PresigRecord>[]; mode: SigningAttempt['mode']; approvals: SignedVote[] }
  | { kind: 'signed'; result: OkResult }
  | { kind: 'attemptFailed'; attempt: SigningAttempt; error: Failure; exclude: number[]; persistent: number[]; final: boolean }
  | { kind: 'broadcast' }
  | { kind: 'track' }

/**
 * Pure: the next step of `input.record` from what was read, by state (DESIGN §5 steps 3–5):
 * - voting → approved (≥ t valid signed approvals) / rejected (approval impossible) / expired;
 * - approved → signing: t approving, up, unbanned signers, a ready presignature per input for
 *   that set when there is one (waiting a moment for a late vote that would make one usable);
 * - signing → signed (a report whose signatures verify), or the attempt failed with who stays
 *   out of the next one (refusals, corroborated culprits, lone accusers, silent signers, false
 *   reports), or failed for good after {@link MAX_ATTEMPTS};
 * - signed → broadcast, broadcast → tracked on the chain (the chain answers those).
 */
export function decide(input: DecideInput): { decision: Decision; accuse: OkResult[] } {
  const { record } = input
  switch (record.state) {
    case 'pending':
    case 'voting':
      return { decision: decideVoting(input), accuse: [] }
    case 'approved':
      return { decision: decideAttempt(input), accuse: [] }
    case 'signing':
      return input.attempt ? decideCollect({ ...input, attempt: input.attempt }) : { decision: decideAttempt(input), accuse: [] }
    case 'signed':
      return { decision: { kind: 'broadcast' }, accuse: [] }
    case 'broadcast':
      return { decision: { kind: 'track' }, accuse: [] }
    case 'confirmed':
    case 'rejected':
    case 'failed':
    case 'expired':
      return { decision: { kind: 'wait', why: 'finished' }, accuse: [] }
  }
}

function decideVoting({ record, ballots, cluster, now }: DecideInput): Decision {
  const approvals = ballots.approvers.length
  const rejections = ballots.rejecters.length
  const { threshold: t, clusterSize: n } = cluster
  if (approvals >= t) return { kind: 'approve', votes: ballots.approvals }
  if (n - rejections < t) return { kind: 'reject', votes: ballots.rejections, error: { code: 'POLICY_VIOLATION', message: `${rejections} of ${n} nodes rejected the proposal` } }
  if (now - Date.parse(record.createdAt) > VOTING_DEADLINE_MS)
    return { kind: 'expire', error: { code: 'TIMEOUT', message: `only ${approvals} approvals before the voting deadline` } }
  return { kind: 'wait', why: `${approvals} of ${t} approvals` }
}

/** Approving, up, unbanned nodes not excluded, sorted. */
function eligibleSigners(ballots: Ballots, cluster: DecideInput['cluster'], exclude: number[]): number[] {
  const up = new Set(cluster.up)
  const banned = new Set(cluster.banned)
  return ballots.approvers.filter((id) => up.has(id) && !banned.has(id) && !exclude.includes(id)).sort((a, b) => a - b)
}

function decideAttempt({ record: tx, ballots, pool, cluster, now, exclude: faults }: DecideInput): Decision {
  // Rewritten in etcd after the votes: no honest signer would sign it; nothing to decide.
  if (proposalHash(tx) !== tx.proposalHash) return { kind: 'wait', why: 'the record no longer matches its proposal hash' }
  // A share refresh is switching nodes to their new shares: a session now could mix old and
  // new shares. The send waits, approved, and signs once the refresh is over.
  if (cluster.keyPaused) return { kind: 'wait', why: 'a share refresh of the key is under way' }
  // Culprits of misbehaviour in any earlier attempt stay out, not only those of the last one
  // (a ban may be written after the next attempt is picked).
  const exclude = [...new Set([...(tx.excluded ?? []), ...faults])]
  const eligible = eligibleSigners(ballots, cluster, exclude)
  if (eligible.length < cluster.threshold) {
    if (now - Date.parse(tx.updatedAt) > VOTING_DEADLINE_MS) return { kind: 'fail', error: { code: 'CLUSTER_UNAVAILABLE', message: 'not enough healthy approving signers' } }
    return { kind: 'wait', why: `${eligible.length} eligible signers` }
  }
  // ECDSA: a signer set with one ready presignature per input (same set and path) is used with
  // them. Otherwise the set rotates with the transaction id, so every healthy node signs its
  // share of spends and a faulty one is found out.
  const usable = tx.type === 'segwit' ? pool.filter((e) => e.value.status === 'ready' && e.value.keyId === tx.keyId) : []
  const sets = rotate(signerSets(eligible, cluster.threshold), tx.id)
  let signers = sets[0]
  let picks: EtcdEntry<PresigRecord>[] = []
  for (const set of sets) {
    const found = allocate(tx, set, usable)
    if (found) {
      signers = set
      picks = found
      break
    }
  }
  if (picks.length === 0 && usable.length > 0 && worthWaitingForVotes(tx, ballots, eligible, exclude, usable, cluster, now)) {
    return { kind: 'wait', why: 'a late vote would make a presignature set usable' }
  }
  const mode: SigningAttempt['mode'] = tx.type === 'taproot' ? 'frost' : picks.length ? 'presignature' : 'full'
  return { kind: 'attempt', attempt: tx.attempt + 1, signers, picks, mode, approvals: ballots.approvals.filter((v) => signers.includes(v.payload.nodeId)) }
}

/**
 * Approval needs only t votes, but a set holding presignatures for every input may include a
 * node whose (approving) vote is still on its way: wait a moment for it rather than fall back
 * to full signing, which costs seconds of CPU per input.
 */
function worthWaitingForVotes(
  tx: TxRecord,
  ballots: Ballots,
  eligible: number[],
  exclude: number[],
  ready: EtcdEntry<PresigRecord>[],
  cluster: DecideInput['cluster'],
  now: number,
): boolean {
  if (now - Date.parse(tx.updatedAt) > VOTE_GRACE_MS) return false
  const banned = new Set(cluster.banned)
  const pending = cluster.up.filter((id) => !ballots.voted.has(id) && !banned.has(id) && !exclude.includes(id))
  if (pending.length === 0) return false
  const hopeful = [...eligible, ...pending].sort((a, b) => a - b)
  return signerSets(hopeful, cluster.threshold).some((set) => allocate(tx, set, ready) !== null)
}

function decideCollect(input: DecideInput & { attempt: SigningAttempt }): { decision: Decision; accuse: OkResult[] } {
  const { record: tx, attempt, results, now } = input
  const failed = (error: Failure, exclude: number[], persistent: number[] = []): Decision => ({
    kind: 'attemptFailed',
    attempt,
    error,
    exclude,
    persistent,
    final: tx.attempt >= MAX_ATTEMPTS,
  })
  const failures = results.filter((r): r is FailedResult => !r.ok)
  const oks = results.filter((r): r is OkResult => r.ok)
  const deadline = Date.parse(attempt.createdAt) + input.cluster.sessionTimeoutMs * Math.max(1, tx.inputs.length) + 30_000
  const complete = attempt.signers.every((s) => results.some((r) => r.nodeId === s))
  let accuse: OkResult[] = []
  if (oks.length > 0) {
    const valid = input.signaturesValid
    if (!valid) return { decision: failed({ code: 'NO_ACTIVE_KEY', message: `key ${tx.keyId} is not active` }, []), accuse }
    // Every signer computes the same aggregated signatures: the first report that verifies is
    // used; a report of signatures that do not verify is a false report (accused, left out).
    const checked = oks.map((r) => ({ r, valid: valid(r) }))
    const good = checked.find((c) => c.valid)?.r
    accuse = checked.filter((c) => !c.valid).map((c) => c.r)
    if (good) return { decision: { kind: 'signed', result: good }, accuse }
    const liars = accuse.map((r) => r.nodeId)
    if (liars.length > 0 && (complete || now > deadline)) {
      return { decision: failed({ code: 'INVALID_SIGNATURES', message: `node(s) ${liars.join(',')} reported signatures that do not verify` }, liars, liars), accuse }
    }
  }
  // A signer that refused to start (it does not see the quorum, or did not approve) will never
  // join: the others would only time out, so start the next attempt without it now.
  const refusals = failures.filter((f) => isSigningRefusal(f.code))
  if (refusals.length > 0) {
    return {
      decision: failed(
        { code: refusals[0].code, message: `node ${refusals[0].nodeId}: ${refusals[0].error}` },
        refusals.map((f) => f.nodeId),
      ),
      accuse,
    }
  }
  // Culprits named by two reporters are out at once; one reporter's word alone excludes only
  // itself, once every signer has answered (or the deadline passed).
  const { corroborated, loneAccusers } = blame(failures, attempt.signers)
  if (failures.length > 0 && (corroborated.length > 0 || complete)) {
    const first = failures[0]
    const out = [...corroborated, ...loneAccusers]
    // Misbehaviour keeps its culprits (or a lone accuser) out of this send for good; a
    // timeout's "culprits" are often just a node that restarted, so only the next attempt.
    return { decision: failed({ code: first.code, message: `node ${first.nodeId}: ${first.error}` }, out, first.code === 'PEER_MISBEHAVED' ? out : []), accuse }
  }
  if (now > deadline) {
    const silent = attempt.signers.filter((s) => !results.some((r) => r.nodeId === s))
    return { decision: failed({ code: 'TIMEOUT', message: `no result from node(s) ${silent.join(',')}` }, [...silent, ...loneAccusers]), accuse }
  }
  return { decision: { kind: 'wait', why: `${results.length} of ${attempt.signers.length} results` }, accuse }
}

/** Every `t`-subset of `ids` (sorted), in lexicographic order. */
export function signerSets(ids: number[], t: number): number[][] {
  const out: number[][] = []
  const walk = (from: number, acc: number[]) => {
    if (acc.length === t) {
      out.push(acc)
      return
    }
    for (let i = from; i <= ids.length - (t - acc.length); i++) walk(i + 1, [...acc, ids[i]])
  }
  walk(0, [])
  return out
}

/** `sets` rotated to start at a position derived from `txId` (deterministic per transaction). */
export function rotate<T>(sets: T[], txId: string): T[] {
  if (sets.length === 0) return sets
  const start = parseInt(createHash('sha256').update(txId).digest('hex').slice(0, 8), 16) % sets.length
  return [...sets.slice(start), ...sets.slice(0, start)]
}

/** One distinct ready presignature per input for exactly `set` and the input's path, or null. */
export function allocate(tx: Pick<TxRecord, 'inputs'>, set: number[], ready: EtcdEntry<PresigRecord>[]): EtcdEntry<PresigRecord>[] | null {
  if (ready.length === 0) return null
  const taken = new Set<string>()
  const picks: EtcdEntry<PresigRecord>[] = []
  for (const input of tx.inputs) {
    const p = ready.find((e) => !taken.has(e.value.id) && e.value.signers.join(',') === set.join(',') && e.value.path.join('/') === input.path.join('/'))
    if (!p) return null
    taken.add(p.value.id)
    picks.push(p)
  }
  return picks
}
