import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, beforeEach, describe, it } from 'node:test'
import { buildUnsignedTransaction, deriveEcdsaChild, estimateVsize, taprootAddress, taprootSigMsg } from '@tw/bitcoin'
import { decisionBody, type ViolationType } from '@tw/api'
import type { AppConfig } from '../config/config'
import { MetricsService } from '../metrics/metrics.service'
import { FakeEtcd } from '../testing/fake-etcd'
import { fakeIdentity, signAs } from '../testing/fake-identity'
import { ApprovalLedger } from './approval-ledger'
import { attemptBody } from './leader-decision'
import { proposalHash, proposerStatement } from './policy'
import { TxStore } from './tx-store'
import { TxWorkerService } from './tx-worker.service'
import { WalletKeys, type NoConfidenceMark, type SignedVote, type SigningAttempt, type SigningResult, type TxDecision, type TxRecord, type VotePayload } from './wallet.types'

// What one node does with what it reads from etcd (DESIGN §5 trust model, security-tests C7):
// node 1's TxWorkerService over an in-memory etcd that an attacker may rewrite, its own
// approval ledger on disk, and an engine that records what it is asked to sign.

// A Taproot wallet key: x-only keys derived from BIP32 test vector 1's public key (public data only).
const XPUB = {
  publicKey: Buffer.from('0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2', 'hex'),
  chainCode: Buffer.from('873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508', 'hex'),
}
const outputKey = (p: number[]) => Buffer.from(deriveEcdsaChild(XPUB.publicKey, XPUB.chainCode, p)).subarray(1)
const own = (p: number[]) => taprootAddress(outputKey(p), 'regtest')
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const DEST = own([9, 9]) // any regtest Taproot address

const identity = fakeIdentity

const config = {
  nodeId: 1,
  threshold: 4,
  clusterSize: 5,
  chain: { network: 'regtest', confirmations: 1 },
  policy: { maxAmountSats: 1_000_000, dailyLimitSats: 10_000_000, maxFeeSats: 50_000, minFeeRate: 1, maxFeeRate: 100, allow: [], deny: [] },
} as unknown as AppConfig

/** A Taproot proposal of two wallet coins: payment first, change second. */
function proposal(
  id = '00000000-0000-4000-8000-000000000001',
  coins: [string, number][] = [
    ['aa'.repeat(32), 60_000],
    ['bb'.repeat(32), 40_000],
  ],
): TxRecord {
  const inputs = coins.map(([txid, value], i) => ({ txid, vout: i, value, scriptPubKey: hex(own([0, i]).scriptPubKey), path: [0, i] }))
  const total = coins.reduce((n, [, v]) => n + v, 0)
  const amount = 50_000
  const change = own([1, 0])
  const vsize = estimateVsize(
    inputs.map(() => 'taproot' as const),
    [DEST.scriptPubKey, change.scriptPubKey],
  )
  const fee = vsize * 2
  const outputs = [
    { scriptPubKey: hex(DEST.scriptPubKey), address: DEST.address, value: amount, change: false },
    { scriptPubKey: hex(change.scriptPubKey), address: change.address, value: total - amount - fee, change: true, path: [1, 0] },
  ]
  const unsignedTx = buildUnsignedTransaction({
    inputs: inputs.map((i) => ({ ...i, scriptPubKey: Buffer.from(i.scriptPubKey, 'hex'), keyType: 'taproot' as const })),
    outputs: outputs.map((o) => ({ scriptPubKey: Buffer.from(o.scriptPubKey, 'hex'), value: o.value })),
    locktime: 200,
    rbf: true,
  })
  const base = { id, keyId: 'k1', type: 'taproot' as const, to: DEST.address, amountSats: amount, unsignedTx, inputs, outputs }
  const now = new Date().toISOString()
  return {
    ...base,
    feeSats: fee,
    feeRate: 2,
    vsize,
    locktime: 200,
    proposalHash: proposalHash(base),
    proposedBy: 2,
    proposerSignature: signAs(2, proposerStatement(proposalHash(base), 2)),
    state: 'voting',
    attempt: 0,
    signers: null,
    signingMode: null,
    signedTx: null,
    txid: null,
    error: null,
    createdAt: now,
    updatedAt: now,
    history: [{ state: 'voting', at: now }],
  }
}

const vote = (nodeId: number, tx: TxRecord, approve = true): SignedVote => {
  const payload: VotePayload = { txId: tx.id, proposalHash: tx.proposalHash, nodeId, approve, reason: approve ? null : 'no', votedAt: new Date().toISOString() }
  return { payload, signature: signAs(nodeId, payload) }
}

/** A signing attempt as an honest leader (node `leader`) writes it: signed, with the approvals it counted. */
function attempt(tx: TxRecord, n: number, signers = [1, 2, 3, 4], leader = 2, approvals = signers.map((s) => vote(s, tx))): SigningAttempt {
  const body: SigningAttempt = {
    txId: tx.id,
    attempt: n,
    signers,
    mode: 'frost',
    presignatures: tx.inputs.map(() => null),
    createdAt: new Date().toISOString(),
    term: '7',
    proposalHash: tx.proposalHash,
    leader,
    approvals,
  }
  return { ...body, signature: signAs(leader, attemptBody(body)) }
}

/** `tx` moved to `state` by leader `leader` with its signed decision resting on `votes` (as the coordinator writes it). */
function decided(tx: TxRecord, state: TxRecord['state'], patch: Partial<TxRecord> = {}, leader = 2, votes: SignedVote[] = []): TxRecord {
  const next: TxRecord = { ...tx, ...patch, state }
  const body: TxDecision = {
    txId: tx.id,
    state,
    from: tx.state,
    attempt: next.attempt,
    proposalHash: tx.proposalHash,
    term: '7',
    leader,
    clusterSize: 5,
    error: next.error,
    excluded: next.excluded ?? [],
    votes,
    decidedAt: new Date().toISOString(),
  }
  return { ...next, decision: { ...body, signature: signAs(leader, decisionBody(body)) } }
}

describe('TxWorkerService: a node signs only what it approved (trust model)', () => {
  const dirs: string[] = []
  let etcd: FakeEtcd
  let dir: string
  let signed: { session: string; message: string }[]
  let accused: { type: ViolationType; offender: number }[]
  let confirmed: Set<string>
  let spentBy: Map<string, string>

  function node(cfg: AppConfig = config, cluster: unknown = {}): TxWorkerService {
    const id = identity(1)
    const engine = {
      isStarted: true,
      keyInfo: () => ({ keyId: 'k1' }),
      frostOutputKey: (_k: string, p: number[]) => hex(outputKey(p)),
      frostSign: async (session: string, _k: string, _s: number[], _p: number[], msg: Uint8Array) => {
        signed.push({ session, message: hex(msg) })
        return 'ab'.repeat(64)
      },
      presignatures: () => [],
    }
    const chain = {
      // The chain's view of spends: which transactions are confirmed, which outputs are spent by whom.
      txStatus: async (txid: string) => ({ found: confirmed.has(txid), confirmed: confirmed.has(txid), blockHeight: confirmed.has(txid) ? 100 : null }),
      outspend: async (txid: string, vout: number) => {
        const by = spentBy.get(`${txid}:${vout}`)
        return { spent: by !== undefined, txid: by ?? null, confirmed: by !== undefined }
      },
      utxos: async (address: string) => {
        const out = []
        // The coins of every proposal in etcd exist on this chain (what matters here is what the node signs).
        const records = etcd.keys(WalletKeys.txs).map((k) => etcd.value<TxRecord>(k)!)
        for (const tx of [proposal(), ...records])
          for (const i of tx.inputs) if (own(i.path).address === address) out.push({ txid: i.txid, vout: i.vout, value: i.value, confirmed: true })
        return out
      },
    }
    const wallet = {
      chain: () => chain,
      reservations: async () => {
        const locks = new Map<string, string>()
        for (const e of await etcd.getPrefix<{ txId: string }>(WalletKeys.utxoLocks)) locks.set(e.key.slice(WalletKeys.utxoLocks.length), e.value.txId)
        return locks
      },
    }
    const db = { transaction: async () => undefined }
    const store = new TxStore(config, etcd as never, db as never, id as never, engine as never)
    const byzantine = {
      registerVerifier: () => undefined,
      accuse: async (type: ViolationType, offender: number) => void accused.push({ type, offender }),
      observeVote: async () => undefined,
    }
    return new TxWorkerService(
      cfg,
      etcd as never,
      cluster as never,
      engine as never,
      wallet as never,
      store,
      db as never,
      { record: async () => undefined } as never,
      new MetricsService(config),
      id as never,
      byzantine as never,
      { has: () => false } as never,
      new ApprovalLedger(dir),
    )
  }

  /** One pass of the worker over `tx` as etcd holds it now; waits for a signing it started. */
  async function step(w: TxWorkerService, txId: string): Promise<void> {
    const tx = (await etcd.get<TxRecord>(WalletKeys.tx(txId)))!.value
    await (w as unknown as { handle(tx: TxRecord, checkVotes: null): Promise<void> }).handle(tx, null)
    for (let i = 0; i < 200 && (w as unknown as { running: Set<string> }).running.size > 0; i++) await new Promise((r) => setTimeout(r, 5))
  }
  const result = async (tx: TxRecord, n: number) => (await etcd.get<SigningResult>(WalletKeys.result(tx.id, n, 1)))?.value

  /** Etcd with `tx` proposed, its coins locked, node 1's approval cast through the worker, and 2–4's approvals. */
  async function approved(w: TxWorkerService, tx = proposal()): Promise<TxRecord> {
    await etcd.put(WalletKeys.tx(tx.id), tx)
    for (const i of tx.inputs) await etcd.put(WalletKeys.utxoLock(i.txid, i.vout), { txId: tx.id })
    await step(w, tx.id)
    const mine = (await etcd.get<SignedVote>(WalletKeys.vote(tx.id, 1)))?.value
    assert.equal(mine?.payload.approve, true, `node 1 approves the proposal: ${mine?.payload.reason}`)
    for (const n of [2, 3, 4]) await etcd.put(WalletKeys.vote(tx.id, n), vote(n, tx))
    return tx
  }
  async function signing(tx: TxRecord, n: number, a = attempt(tx, n)): Promise<TxRecord> {
    const next = { ...tx, state: 'signing' as const, attempt: n, signers: a.signers }
    await etcd.put(WalletKeys.tx(tx.id), next)
    await etcd.put(WalletKeys.attempt(tx.id, n), a)
    return next
  }

  beforeEach(() => {
    etcd = new FakeEtcd()
    dir = mkdtempSync(path.join(tmpdir(), 'tw-ledger-'))
    dirs.push(dir)
    signed = []
    accused = []
    confirmed = new Set()
    spentBy = new Map()
  })
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it('signs an approved proposal from its own copy: every BIP341 message computed from what it approved', async () => {
    const w = node()
    const tx = await approved(w)
    await signing(tx, 1)
    await step(w, tx.id)
    assert.equal((await result(tx, 1))?.ok, true)
    const prevouts = tx.inputs.map((i) => ({ scriptPubKey: own(i.path).scriptPubKey, value: i.value }))
    assert.deepEqual(
      signed.map((s) => s.message),
      tx.inputs.map((_, i) => hex(taprootSigMsg(tx.unsignedTx, i, prevouts))),
    )
  })

  it('refuses a record rewritten in etcd after it approved (another coin, same stored hash field): nothing is signed', async () => {
    const w = node()
    const tx = await approved(w)
    // An attacker with etcd access: spend a different coin, keep the hash field, post an attempt.
    const other = proposal(tx.id, [['cc'.repeat(32), 100_000]])
    const rewritten: TxRecord = { ...other, proposalHash: tx.proposalHash }
    await signing(rewritten, 1)
    await step(w, tx.id)
    assert.deepEqual(signed, [], 'no signature for the rewritten transaction')
    const r = await result(tx, 1)
    assert.equal(r?.ok, false)
    assert.equal(r && !r.ok && r.code, 'PROPOSAL_CHANGED')
  })

  it('never signs a transaction it saw finish, even when its record is set back to signing with a new attempt', async () => {
    const w = node()
    const tx = await approved(w)
    await signing(tx, 1)
    await step(w, tx.id)
    assert.equal(signed.length, 2)
    confirmed.add('f0'.repeat(32))
    await etcd.put(WalletKeys.tx(tx.id), decided({ ...tx, attempt: 1, txid: 'f0'.repeat(32) }, 'confirmed'))
    await step(w, tx.id)
    signed = []
    await signing(tx, 2) // the finished send's attempt replayed as a new one
    await step(w, tx.id)
    assert.deepEqual(signed, [])
    const r = await result(tx, 2)
    assert.equal(r && !r.ok && r.code, 'FINISHED')
  })

  it('a deleted vote key gets the same signed vote again, never a new vote on a changed record', async () => {
    const w = node()
    const tx = await approved(w)
    const first = (await etcd.get<SignedVote>(WalletKeys.vote(tx.id, 1)))!.value
    await etcd.delete(WalletKeys.vote(tx.id, 1))
    // Rewritten too: a fresh vote would be a second, different vote (a genuine double vote).
    await etcd.put(WalletKeys.tx(tx.id), { ...proposal(tx.id, [['cc'.repeat(32), 100_000]]) })
    await step(node(), tx.id) // a new process reads the ledger from disk
    assert.deepEqual((await etcd.get<SignedVote>(WalletKeys.vote(tx.id, 1)))?.value, first)
  })

  it('after a restart mid-session it reports the attempt missed instead of rejoining it', async () => {
    const tx = await approved(node())
    await signing(tx, 1)
    // The earlier life recorded the attempt as started, then died before reporting.
    new ApprovalLedger(dir).startAttempt(tx.id, 1)
    await step(node(), tx.id)
    assert.deepEqual(signed, [])
    const r = await result(tx, 1)
    assert.equal(r && !r.ok && r.code, 'RESTARTED')
    assert.deepEqual(accused, [], 'a restart accuses nobody')
  })

  it('refuses an attempt without the quorum it must carry, and accuses the leader that signed it', async () => {
    const w = node()
    const tx = await approved(w)
    // Leader 3 decides on three approvals only (node 4's is missing), naming node 5 who never approved.
    await signing(
      tx,
      1,
      attempt(
        tx,
        1,
        [1, 2, 3, 5],
        3,
        [1, 2, 3].map((s) => vote(s, tx)),
      ),
    )
    await step(w, tx.id)
    assert.deepEqual(signed, [])
    const r = await result(tx, 1)
    assert.equal(r && !r.ok && r.code, 'BAD_ATTEMPT')
    assert.deepEqual(accused, [{ type: 'invalid_decision', offender: 3 }])
  })

  it('refuses an attempt nobody signed (written straight into etcd) without accusing anyone', async () => {
    const w = node()
    const tx = await approved(w)
    const forged = { ...attempt(tx, 1), signature: signAs(5, { something: 'else' }) }
    await signing(tx, 1, forged)
    await step(w, tx.id)
    assert.deepEqual(signed, [])
    const r = await result(tx, 1)
    assert.equal(r && !r.ok && r.code, 'BAD_ATTEMPT')
    assert.deepEqual(accused, [])
  })

  it('the daily limit counts what this node approved, whatever etcd says of it later', async () => {
    const w = node({ ...config, policy: { ...config.policy, dailyLimitSats: 60_000 } } as AppConfig)
    const a = await approved(w)
    // An etcd writer rewrites the first send as tiny, to make room under the limit. (Marking it
    // rejected instead would make every honest node refuse to sign it: then it sends nothing.)
    await etcd.put(WalletKeys.tx(a.id), { ...a, amountSats: 1, state: 'approved' })
    await step(w, a.id)
    const b = proposal('00000000-0000-4000-8000-000000000002', [
      ['cc'.repeat(32), 60_000],
      ['dd'.repeat(32), 40_000],
    ])
    await etcd.put(WalletKeys.tx(b.id), b)
    for (const i of b.inputs) await etcd.put(WalletKeys.utxoLock(i.txid, i.vout), { txId: b.id })
    await step(w, b.id)
    const vote = (await etcd.get<SignedVote>(WalletKeys.vote(b.id, 1)))?.value
    assert.equal(vote?.payload.approve, false)
    assert.match(vote?.payload.reason ?? '', /daily limit/)
  })

  it('rejects a proposal no node signed (written straight into etcd by whoever can write there)', async () => {
    const w = node()
    const tx = { ...proposal(), proposerSignature: undefined }
    await etcd.put(WalletKeys.tx(tx.id), tx)
    for (const i of tx.inputs) await etcd.put(WalletKeys.utxoLock(i.txid, i.vout), { txId: tx.id })
    await step(w, tx.id)
    const vote = (await etcd.get<SignedVote>(WalletKeys.vote(tx.id, 1)))?.value
    assert.equal(vote?.payload.approve, false)
    assert.match(vote?.payload.reason ?? '', /not signed by node 2/)
    // Signed by another node than the one it names: the same.
    const forged = { ...proposal('00000000-0000-4000-8000-000000000003'), proposerSignature: signAs(3, proposerStatement(tx.proposalHash, 2)) }
    await etcd.put(WalletKeys.tx(forged.id), forged)
    await step(w, forged.id)
    assert.equal((await etcd.get<SignedVote>(WalletKeys.vote(forged.id, 1)))?.value.payload.approve, false)
  })

  it('refuses to sign a proposal it did not approve', async () => {
    const w = node()
    const tx = proposal()
    await etcd.put(WalletKeys.tx(tx.id), tx) // no coin locks: node 1 rejects it
    await step(w, tx.id)
    assert.equal((await etcd.get<SignedVote>(WalletKeys.vote(tx.id, 1)))?.value.payload.approve, false)
    for (const n of [2, 3, 4, 5]) await etcd.put(WalletKeys.vote(tx.id, n), vote(n, tx))
    // Even with an approval signed as node 1 in the attempt (its ledger lost, say), it does not sign.
    await signing(
      tx,
      1,
      attempt(
        tx,
        1,
        [1, 2, 3, 4],
        2,
        [1, 2, 3, 4].map((s) => vote(s, tx)),
      ),
    )
    await step(w, tx.id)
    assert.deepEqual(signed, [])
    const r = await result(tx, 1)
    assert.equal(r && !r.ok && r.code, 'NOT_APPROVED')
  })

  // Issue 13 item 6: every leader decision on the record is signed and checked before a follower acts on it.

  it('an unsigned or forged failed/rejected written into etcd is refused: the send is not treated as finished, its locks stay, and it is signed later', async () => {
    const w = node()
    const tx = await approved(w)
    const failed = { ...tx, state: 'failed' as const, error: { code: 'CHAIN_REJECTED', message: 'made up' } }
    await etcd.put(WalletKeys.tx(tx.id), failed)
    await step(w, tx.id)
    // Forged: a decision claiming leader 2, signed by node 5 (an etcd writer with its own key).
    const forged = decided(tx, 'rejected', { error: { code: 'POLICY_VIOLATION', message: 'made up' } }, 2)
    await etcd.put(WalletKeys.tx(tx.id), { ...forged, decision: { ...forged.decision!, signature: signAs(5, decisionBody(forged.decision!)) } })
    await step(w, tx.id)
    // A genuine signed decision of another transaction, copied onto this record.
    const other = decided(proposal('00000000-0000-4000-8000-000000000009'), 'failed', { error: failed.error })
    await etcd.put(WalletKeys.tx(tx.id), { ...failed, decision: other.decision })
    await step(w, tx.id)
    assert.equal(new ApprovalLedger(dir).get(tx.id)?.finished, false, 'node 1 does not treat the send as finished')
    for (const i of tx.inputs) assert.deepEqual((await etcd.get(WalletKeys.utxoLock(i.txid, i.vout)))?.value, { txId: tx.id }, 'its coins stay reserved')
    assert.deepEqual(accused, [], 'nothing attributable: nobody accused')
    // The real leader's attempt is still signed.
    await signing(tx, 1)
    await step(w, tx.id)
    assert.equal((await result(tx, 1))?.ok, true)
    assert.equal(signed.length, tx.inputs.length)
  })

  it('a leader-signed rejection without the rejections that make approval impossible is refused and accused; a valid one is final', async () => {
    const w = node()
    const tx = await approved(w)
    // Leader 3 rejects on one signed rejection (node 5's): 4 approvals were still possible.
    const rejected = decided(tx, 'rejected', { error: { code: 'POLICY_VIOLATION', message: '1 of 5 nodes rejected the proposal' } }, 3, [vote(5, tx, false)])
    await etcd.put(WalletKeys.tx(tx.id), rejected)
    await step(w, tx.id)
    assert.deepEqual(accused, [{ type: 'invalid_decision', offender: 3 }])
    assert.equal(new ApprovalLedger(dir).get(tx.id)?.finished, false)
    await signing(tx, 1)
    await step(w, tx.id)
    assert.equal((await result(tx, 1))?.ok, true, 'the approved send is still signed')

    // A second proposal, rejected by nodes 4 and 5 (approval impossible): final, nobody accused.
    accused = []
    const b = proposal('00000000-0000-4000-8000-000000000002', [
      ['cc'.repeat(32), 60_000],
      ['dd'.repeat(32), 40_000],
    ])
    await approved(w, b)
    await etcd.put(
      WalletKeys.tx(b.id),
      decided(b, 'rejected', { error: { code: 'POLICY_VIOLATION', message: '2 of 5 nodes rejected the proposal' } }, 3, [vote(4, b, false), vote(5, b, false)]),
    )
    await step(w, b.id)
    assert.deepEqual(accused, [])
    assert.equal(new ApprovalLedger(dir).get(b.id)?.finished, true)
  })

  it('a vote cast is not read back on every step, and is published again (the same bytes) once the watch reports its key deleted', async () => {
    const w = node()
    const tx = await approved(w)
    // The watches, without the loop (each pass below is driven by the test).
    await w.start()
    await w.stop()
    const key = WalletKeys.vote(tx.id, 1)
    const cast = etcd.value<SignedVote>(key)
    let reads = 0
    const get = etcd.get.bind(etcd)
    etcd.get = (<T>(k: string) => {
      if (k === key) reads++
      return get<T>(k)
    }) as typeof etcd.get
    await step(w, tx.id)
    await step(w, tx.id)
    await step(w, tx.id)
    // At most once (the full scan of the loop's first pass may have looked already), not on every step.
    assert.ok(reads <= 1, `the vote key was read ${reads} times in three steps`)
    await etcd.delete(key)
    await step(w, tx.id)
    assert.deepEqual(etcd.value<SignedVote>(key), cast)
  })

  it('an approval decided on three approvals is accused; one on four is not', async () => {
    const w = node()
    const tx = await approved(w)
    await etcd.put(
      WalletKeys.tx(tx.id),
      decided(
        tx,
        'approved',
        {},
        4,
        [1, 2, 3].map((n) => vote(n, tx)),
      ),
    )
    await step(w, tx.id)
    assert.deepEqual(accused, [{ type: 'invalid_decision', offender: 4 }])
    accused = []
    await etcd.put(
      WalletKeys.tx(tx.id),
      decided(
        tx,
        'approved',
        {},
        2,
        [1, 2, 3, 4].map((n) => vote(n, tx)),
      ),
    )
    await step(w, tx.id)
    assert.deepEqual(accused, [])
  })

  it("a live leader that leaves an approved send (four valid approvals from up nodes) without an attempt gets this node's signed no-confidence mark", async () => {
    const up = [1, 2, 3, 4, 5]
    const cluster = { leader: { nodeId: 2, term: '7' }, upNodes: () => up, bannedNodes: () => [] }
    // TW_LEADER_STALL_S 0: the stall is due at once (the period itself is config, not asserted here).
    const w = node({ ...config, byzantine: { leaderStallS: 0 } } as unknown as AppConfig, cluster)
    const tx = await approved(w)
    await etcd.put(
      WalletKeys.tx(tx.id),
      decided(
        tx,
        'approved',
        {},
        2,
        [1, 2, 3, 4].map((n) => vote(n, tx)),
      ),
    )
    // Node 4 is down: the leader cannot sign with four approvers, so no mark.
    up.splice(3, 1)
    await step(w, tx.id)
    assert.equal(await etcd.get(WalletKeys.noConfidence('7', 1)), null, 'no mark while the leader could not advance the send')
    up.splice(3, 0, 4)
    await step(w, tx.id)
    const mark = (await etcd.get<NoConfidenceMark>(WalletKeys.noConfidence('7', 1)))?.value
    assert.equal(mark?.leader, 2)
    assert.equal(mark?.term, '7')
    assert.equal(mark?.txId, tx.id)
    const { signature, ...body } = mark!
    assert.equal(signature, signAs(1, body), 'signed by node 1')
    assert.deepEqual(accused, [], 'a stall is never an accusation')
  })

  it('a signed confirmed or INPUTS_SPENT_ELSEWHERE decision the chain does not bear out leaves the send open (no accusation: the chain is not evidence)', async () => {
    const w = node()
    const tx = await approved(w)
    const txid = 'f1'.repeat(32)
    await etcd.put(WalletKeys.tx(tx.id), decided({ ...tx, attempt: 1, txid }, 'confirmed'))
    await step(w, tx.id)
    const spent = { code: 'INPUTS_SPENT_ELSEWHERE', message: `input ${tx.inputs[0].txid}:0 is spent by another transaction` }
    await etcd.put(WalletKeys.tx(tx.id), decided({ ...tx, attempt: 1, txid }, 'failed', { error: spent }))
    await step(w, tx.id)
    assert.equal(new ApprovalLedger(dir).get(tx.id)?.finished, false)
    assert.deepEqual(accused, [])
    // Once the chain shows another transaction spending an input, the same decision is final.
    spentBy.set(`${tx.inputs[0].txid}:0`, 'e0'.repeat(32))
    await step(w, tx.id)
    assert.equal(new ApprovalLedger(dir).get(tx.id)?.finished, true)
  })
})
