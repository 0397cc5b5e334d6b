import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { EtcdEntry } from '../cluster/etcd.repository'
import { decide, MAX_ATTEMPTS, VOTE_GRACE_MS, VOTING_DEADLINE_MS, type Ballots, type Decision, type DecideInput, type OkResult } from './decide'
import { proposalHash } from './policy'
import type { PresigRecord, SignedVote, SigningAttempt, SigningResult, TxRecord } from './wallet.types'

// The leader's decision for one transaction, state by state, from what it read: no etcd, no
// chain, no clock but `now`.

const T0 = Date.parse('2026-12-08T00:00:00.000Z')
const at = (ms: number) => new Date(T0 + ms).toISOString()

function record(over: Partial<TxRecord> = {}): TxRecord {
  const base: TxRecord = {
    id: '00000000-0000-4000-8000-0000000000d1',
    type: 'taproot',
    keyId: 'k1',
    to: 'bcrt1qrecipient',
    amountSats: 50_000,
    feeSats: 400,
    feeRate: 2,
    vsize: 200,
    locktime: 100,
    inputs: [{ txid: 'aa'.repeat(32), vout: 0, value: 60_000, scriptPubKey: '51', path: [0, 0] }],
    outputs: [],
    unsignedTx: '0200',
    proposalHash: '',
    proposedBy: 2,
    state: 'voting',
    attempt: 0,
    signers: [],
    signingMode: null,
    signedTx: null,
    txid: null,
    error: null,
    createdAt: at(0),
    updatedAt: at(0),
    history: [],
    ...over,
  } as TxRecord
  return { ...base, proposalHash: over.proposalHash ?? proposalHash(base) }
}

const vote = (nodeId: number, approve = true): SignedVote => ({
  payload: { txId: 'x', proposalHash: 'h', nodeId, approve, reason: approve ? null : 'over the limit', votedAt: at(10) },
  signature: `sig-${nodeId}`,
})

/** Ballots where `approve` approved and `reject` rejected, all validly; the other nodes have not voted. */
function ballots(approve: number[], reject: number[] = []): Ballots {
  return {
    voted: new Set([...approve, ...reject]),
    approvers: approve,
    rejecters: reject,
    approvals: approve.map((n) => vote(n)),
    rejections: reject.map((n) => vote(n, false)),
  }
}

function input(rec: TxRecord, over: Partial<DecideInput> = {}): DecideInput {
  return {
    record: rec,
    ballots: ballots([]),
    attempt: null,
    results: [],
    signaturesValid: null,
    pool: [],
    exclude: [],
    cluster: { threshold: 4, clusterSize: 5, up: [1, 2, 3, 4, 5], banned: [], keyPaused: false, sessionTimeoutMs: 60_000 },
    now: T0 + 1000,
    ...over,
  }
}

const kind = (d: { decision: Decision }) => d.decision.kind
function as<K extends Decision['kind']>(d: { decision: Decision }, k: K): Extract<Decision, { kind: K }> {
  assert.equal(d.decision.kind, k, `expected ${k}, got ${JSON.stringify(d.decision)}`)
  return d.decision as Extract<Decision, { kind: K }>
}

const presig = (id: string, signers: number[], over: Partial<PresigRecord> = {}): EtcdEntry<PresigRecord> => ({
  key: `/tw/presigs/${id}`,
  value: { id, keyId: 'k1', path: [0, 0], signers, status: 'ready', txId: null, createdAt: at(0), term: '7', ...over },
  createRevision: '1',
  modRevision: '2',
  lease: '0',
})

const attemptOf = (signers: number[], over: Partial<SigningAttempt> = {}): SigningAttempt => ({
  txId: '00000000-0000-4000-8000-0000000000d1',
  attempt: 1,
  signers,
  mode: 'frost',
  presignatures: [null],
  createdAt: at(0),
  term: '7',
  approvals: signers.map((n) => vote(n)),
  ...over,
})
const ok = (nodeId: number, sig = 'good'): OkResult => ({ nodeId, ok: true, signatures: [sig], reportedAt: at(50) })
const fail = (nodeId: number, code: string, culprits: number[] = []): SigningResult => ({ nodeId, ok: false, code, error: `${code} from ${nodeId}`, culprits, reportedAt: at(50) })
const verifiesGood = (r: OkResult) => r.signatures[0] === 'good'

describe('decide: voting', () => {
  for (const state of ['pending', 'voting'] as const) {
    it(`${state}: t valid approvals approve, carrying exactly those signed votes`, () => {
      const d = as(decide(input(record({ state }), { ballots: ballots([1, 2, 3, 5], [4]) })), 'approve')
      assert.deepEqual(
        d.votes.map((v) => v.payload.nodeId),
        [1, 2, 3, 5],
      )
    })
  }

  it('waits with fewer than t approvals while approval is still possible', () => {
    assert.equal(kind(decide(input(record(), { ballots: ballots([1, 2, 3], [4]) }))), 'wait')
  })

  it('rejects as soon as approval is impossible (n − rejections < t), with the rejections as its basis', () => {
    const d = as(decide(input(record(), { ballots: ballots([1, 2, 3], [4, 5]) })), 'reject')
    assert.equal(d.error.code, 'POLICY_VIOLATION')
    assert.match(d.error.message, /2 of 5 nodes rejected/)
    assert.deepEqual(
      d.votes.map((v) => v.payload.nodeId),
      [4, 5],
    )
  })

  it('expires after the voting deadline without enough approvals', () => {
    const d = as(decide(input(record(), { ballots: ballots([1, 2]), now: T0 + VOTING_DEADLINE_MS + 1 })), 'expire')
    assert.equal(d.error.code, 'TIMEOUT')
    assert.match(d.error.message, /only 2 approvals/)
  })

  it('approves even after the deadline when the approvals are there', () => {
    assert.equal(kind(decide(input(record(), { ballots: ballots([1, 2, 3, 4]), now: T0 + VOTING_DEADLINE_MS + 1 }))), 'approve')
  })
})

describe('decide: approved → a signing attempt', () => {
  const approved = (over: Partial<TxRecord> = {}) => record({ state: 'approved', ...over })

  it('picks t approving, up, unbanned signers, numbers the attempt and carries only their approvals', () => {
    const d = as(
      decide(input(approved({ attempt: 1 }), { ballots: ballots([1, 2, 3, 4, 5]), cluster: { ...input(approved()).cluster, up: [1, 2, 3, 4, 5], banned: [3] } })),
      'attempt',
    )
    assert.deepEqual(d.signers, [1, 2, 4, 5])
    assert.equal(d.attempt, 2)
    assert.equal(d.mode, 'frost')
    assert.deepEqual(d.picks, [])
    assert.deepEqual(
      d.approvals.map((v) => v.payload.nodeId),
      [1, 2, 4, 5],
    )
  })

  it('rotates the signer set with the transaction id, deterministically', () => {
    const sets = new Set<string>()
    for (let i = 0; i < 30; i++) {
      const rec = approved({ id: `00000000-0000-4000-8000-0000000000${String(i).padStart(2, '0')}` })
      const a = as(decide(input(rec, { ballots: ballots([1, 2, 3, 4, 5]) })), 'attempt')
      assert.deepEqual(as(decide(input(rec, { ballots: ballots([1, 2, 3, 4, 5]) })), 'attempt').signers, a.signers)
      sets.add(a.signers.join(','))
    }
    assert.ok(sets.size > 1, 'every spend signed by the same four nodes')
  })

  it('signs nothing for a record rewritten after the votes (its proposal hash no longer matches)', () => {
    const rewritten = { ...approved(), to: 'bcrt1qattacker' }
    const d = as(decide(input(rewritten, { ballots: ballots([1, 2, 3, 4, 5]) })), 'wait')
    assert.match(d.why, /proposal hash/)
  })

  it('waits while a share refresh of the key is under way', () => {
    const i = input(approved(), { ballots: ballots([1, 2, 3, 4, 5]) })
    assert.equal(kind(decide({ ...i, cluster: { ...i.cluster, keyPaused: true } })), 'wait')
  })

  it('leaves out the record’s excluded culprits and this step’s faults; waits when fewer than t remain, fails after the deadline', () => {
    const rec = approved({ excluded: [2] })
    const d = as(decide(input(rec, { ballots: ballots([1, 2, 3, 4, 5]), exclude: [5] })), 'wait')
    assert.match(d.why, /3 eligible/)
    const late = as(decide(input(rec, { ballots: ballots([1, 2, 3, 4, 5]), exclude: [5], now: T0 + VOTING_DEADLINE_MS + 1 })), 'fail')
    assert.equal(late.error.code, 'CLUSTER_UNAVAILABLE')
    const i = input(rec, { ballots: ballots([1, 2, 3, 4, 5]) })
    assert.deepEqual(as(decide(i), 'attempt').signers, [1, 3, 4, 5])
    assert.equal(kind(decide({ ...i, cluster: { ...i.cluster, up: [1, 3, 4] } })), 'wait')
  })

  it('SegWit: uses the set that holds a ready presignature for every input, of this key and path only', () => {
    const rec = approved({ type: 'segwit' })
    const pool = [
      presig('other-key', [1, 2, 3, 4], { keyId: 'k2' }),
      presig('used', [1, 2, 3, 4], { status: 'used' }),
      presig('other-path', [1, 2, 3, 4], { path: [0, 9] }),
      presig('p1', [2, 3, 4, 5]),
    ]
    const d = as(decide(input(rec, { ballots: ballots([1, 2, 3, 4, 5]), pool })), 'attempt')
    assert.deepEqual(d.signers, [2, 3, 4, 5])
    assert.equal(d.mode, 'presignature')
    assert.deepEqual(
      d.picks.map((p) => p.value.id),
      ['p1'],
    )
    // Without a usable one: full signing.
    const full = as(decide(input(rec, { ballots: ballots([1, 2, 3, 4, 5]), pool: pool.slice(0, 3) })), 'attempt')
    assert.equal(full.mode, 'full')
    assert.deepEqual(full.picks, [])
  })

  it('SegWit: waits a moment for a late vote that would make a presignature set usable, then signs in full', () => {
    const rec = approved({ type: 'segwit', updatedAt: at(0) })
    const pool = [presig('p1', [2, 3, 4, 5])]
    const early = input(rec, { ballots: ballots([1, 2, 3, 4]), pool, now: T0 + 100 })
    assert.match(as(decide(early), 'wait').why, /late vote/)
    assert.equal(as(decide({ ...early, now: T0 + VOTE_GRACE_MS + 1 }), 'attempt').mode, 'full')
    // A late voter that is down or banned is not waited for.
    assert.equal(as(decide({ ...early, cluster: { ...early.cluster, banned: [5] } }), 'attempt').mode, 'full')
  })

  it('a signing record whose attempt is gone starts a new attempt', () => {
    const d = as(decide(input(record({ state: 'signing', attempt: 1 }), { ballots: ballots([1, 2, 3, 4]) })), 'attempt')
    assert.equal(d.attempt, 2)
  })
})

describe('decide: signing → signed or the next attempt', () => {
  const signing = (over: Partial<TxRecord> = {}) => record({ state: 'signing', attempt: 1, signers: [1, 2, 3, 4], ...over })
  const collect = (results: SigningResult[], over: Partial<DecideInput> = {}, rec = signing()) =>
    decide(input(rec, { attempt: attemptOf([1, 2, 3, 4]), results, signaturesValid: verifiesGood, ...over }))

  it('waits for results', () => {
    assert.equal(kind(collect([])), 'wait')
    assert.equal(kind(collect([fail(1, 'TIMEOUT', [4])])), 'wait')
  })

  it('signs with the first report whose signatures verify, and accuses the signer of one that does not', () => {
    const r = collect([ok(2, 'forged'), ok(3, 'good')])
    assert.equal(as(r, 'signed').result.nodeId, 3)
    assert.deepEqual(
      r.accuse.map((a) => a.nodeId),
      [2],
    )
  })

  it('false reports only: waits for the rest, then fails the attempt keeping the liars out for good', () => {
    const waiting = collect([ok(2, 'forged')])
    assert.equal(kind(waiting), 'wait')
    assert.deepEqual(
      waiting.accuse.map((a) => a.nodeId),
      [2],
    )
    const d = as(collect([ok(2, 'forged'), ok(1, 'forged'), fail(3, 'TIMEOUT'), fail(4, 'TIMEOUT')]), 'attemptFailed')
    assert.equal(d.error.code, 'INVALID_SIGNATURES')
    assert.deepEqual(d.exclude, [2, 1])
    assert.deepEqual(d.persistent, [2, 1])
    assert.equal(d.final, false)
  })

  it('a report it cannot check (the key is not active) fails the attempt with NO_ACTIVE_KEY and accuses nobody', () => {
    const r = collect([ok(2, 'good')], { signaturesValid: null })
    assert.equal(as(r, 'attemptFailed').error.code, 'NO_ACTIVE_KEY')
    assert.deepEqual(r.accuse, [])
  })

  it('a refusal leaves the refusing signer out of the next attempt only', () => {
    const d = as(collect([fail(3, 'NOT_APPROVED')]), 'attemptFailed')
    assert.equal(d.error.code, 'NOT_APPROVED')
    assert.deepEqual(d.exclude, [3])
    assert.deepEqual(d.persistent, [])
  })

  it('a culprit named by two signers is out at once, for good when it misbehaved', () => {
    const d = as(collect([fail(1, 'PEER_MISBEHAVED', [4]), fail(2, 'PEER_MISBEHAVED', [4])]), 'attemptFailed')
    assert.deepEqual(d.exclude, [4])
    assert.deepEqual(d.persistent, [4])
  })

  it('one signer’s word alone excludes that signer, once every signer answered', () => {
    assert.equal(kind(collect([fail(1, 'PEER_MISBEHAVED', [4])])), 'wait')
    const d = as(collect([fail(1, 'PEER_MISBEHAVED', [4]), fail(2, 'TIMEOUT'), fail(3, 'TIMEOUT'), fail(4, 'TIMEOUT')]), 'attemptFailed')
    assert.deepEqual(d.exclude, [1])
  })

  it('after the session deadline, the silent signers are out of the next attempt (a fault, not for good)', () => {
    const d = as(collect([], { now: T0 + 60_000 + 30_000 + 1 }), 'attemptFailed')
    assert.equal(d.error.code, 'TIMEOUT')
    assert.deepEqual(d.exclude, [1, 2, 3, 4])
    assert.deepEqual(d.persistent, [])
  })

  it('the deadline grows with the inputs', () => {
    const rec = signing({ inputs: [...signing().inputs, { txid: 'bb'.repeat(32), vout: 1, value: 1000, scriptPubKey: '51', path: [0, 1] }] })
    assert.equal(kind(collect([], { now: T0 + 60_000 + 30_000 + 1 }, rec)), 'wait')
    assert.equal(kind(collect([], { now: T0 + 2 * 60_000 + 30_000 + 1 }, rec)), 'attemptFailed')
  })

  it(`the failure of attempt ${MAX_ATTEMPTS} is final`, () => {
    const d = as(collect([fail(3, 'NOT_APPROVED')], {}, signing({ attempt: MAX_ATTEMPTS })), 'attemptFailed')
    assert.equal(d.final, true)
  })
})

describe('decide: after signing', () => {
  it('signed is broadcast, broadcast is tracked, a finished transaction waits for nothing', () => {
    assert.equal(kind(decide(input(record({ state: 'signed' })))), 'broadcast')
    assert.equal(kind(decide(input(record({ state: 'broadcast' })))), 'track')
    for (const state of ['confirmed', 'rejected', 'failed', 'expired'] as const) assert.equal(kind(decide(input(record({ state })))), 'wait')
  })
})
