import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, beforeEach, describe, it } from 'node:test'
import { decisionFault } from '@tw/api'
import { ChainRejectedError, EsploraClient, type ChainOutspend, type ChainTxStatus } from '../chain/chain.client'
import type { AppConfig } from '../config/config'
import { MetricsService } from '../metrics/metrics.service'
import { FakeEtcd } from '../testing/fake-etcd'
import { fakeIdentity, signAs } from '../testing/fake-identity'
import { oldestBroadcastAgeS, TxCoordinatorService } from './tx-coordinator.service'
import { attemptBody } from './leader-decision'
import { resultBody } from './signing-check'
import { WalletKeys, type SignedVote, type SigningAttempt, type SigningResult, type TxRecord } from './wallet.types'

// The leader's broadcast step over an in-memory etcd and a scripted chain: a refusal is a
// failure only once the chain says why.

const TERM = '7'
const TXID = 'ee'.repeat(32)
const OTHER = 'cc'.repeat(32)
const config = { nodeId: 1, threshold: 4, clusterSize: 5, chain: { network: 'regtest', confirmations: 1 } } as unknown as AppConfig

/** A chain whose answers each test sets. */
class FakeChain {
  url = 'fake'
  broadcasts = 0
  onBroadcast: () => string = () => TXID
  status: ChainTxStatus = { found: false, confirmed: false, blockHeight: null }
  spenders = new Map<string, ChainOutspend>()
  unreachable = false
  async broadcast(): Promise<string> {
    this.broadcasts++
    return this.onBroadcast()
  }
  async txStatus(): Promise<ChainTxStatus> {
    if (this.unreachable) throw new Error('chain unreachable')
    return this.status
  }
  async outspend(txid: string, vout: number): Promise<ChainOutspend> {
    if (this.unreachable) throw new Error('chain unreachable')
    return this.spenders.get(`${txid}:${vout}`) ?? { spent: false, txid: null, confirmed: false }
  }
  async tipHash(): Promise<string> {
    return 'ab'.repeat(32)
  }
  async tipHeight(): Promise<number> {
    return 101
  }
}

function signedTx(): TxRecord {
  const now = new Date().toISOString()
  return {
    id: '00000000-0000-4000-8000-0000000000b1',
    type: 'taproot',
    keyId: 'k1',
    to: 'bcrt1p…',
    amountSats: 50_000,
    feeSats: 400,
    feeRate: 2,
    vsize: 200,
    locktime: 100,
    inputs: [
      { txid: 'aa'.repeat(32), vout: 0, value: 60_000, scriptPubKey: '51', path: [0, 0] },
      { txid: 'bb'.repeat(32), vout: 1, value: 40_000, scriptPubKey: '51', path: [0, 1] },
    ],
    outputs: [],
    unsignedTx: '00',
    proposalHash: 'h',
    proposedBy: 2,
    state: 'signed',
    attempt: 1,
    signers: [1, 2, 3, 4],
    signingMode: 'frost',
    signedTx: '0200',
    txid: TXID,
    error: null,
    createdAt: now,
    updatedAt: now,
    history: [],
  }
}

/** The leader's coordinator over `etcd` and `chain` (its store reads the records and the active index from etcd). */
function leaderOver(etcd: FakeEtcd, chain: FakeChain, ledger: { get(id: string): { finished: boolean } | null } = { get: () => null }): TxCoordinatorService {
  const store = {
    mirror: async () => undefined,
    get: (id: string) => etcd.get<TxRecord>(WalletKeys.tx(id)),
    active: async () =>
      (await Promise.all(etcd.keys(WalletKeys.actives).map((k) => etcd.get<TxRecord>(WalletKeys.tx(k.slice(WalletKeys.actives.length)))))).filter((e) => e !== null),
    idByTxid: async () => null,
    votes: async (id: string) => (await Promise.all([1, 2, 3, 4, 5].map((n) => etcd.get<SignedVote>(WalletKeys.vote(id, n))))).flatMap((e) => (e ? [e.value] : [])),
    voteValid: async (v: SignedVote, t: TxRecord) => v.payload.proposalHash === t.proposalHash && signAs(v.payload.nodeId, v.payload) === v.signature,
    results: async (id: string, n: number, signers: number[]) =>
      (await Promise.all(signers.map((s) => etcd.get<SigningResult>(WalletKeys.result(id, n, s))))).flatMap((e) => (e ? [e.value] : [])),
    presignatures: () => etcd.getPrefix(WalletKeys.presigs),
    observe: () => undefined,
    onRecord: async () => true,
  }
  return new TxCoordinatorService(
    config,
    etcd as never,
    { isLeader: true, leaderTerm: TERM, upNodes: () => [1, 2, 3, 4, 5], bannedNodes: () => [] } as never,
    { chain: () => chain } as never,
    store as never,
    { record: async () => undefined } as never,
    new MetricsService(config),
    fakeIdentity(1) as never,
    {} as never,
    { isPaused: () => false } as never,
    ledger as never,
  )
}

describe('TxCoordinatorService.broadcast: the chain is asked before a send is called failed', () => {
  let etcd: FakeEtcd
  let chain: FakeChain
  let coordinator: TxCoordinatorService
  const tx = signedTx()
  const locks = tx.inputs.map((i) => WalletKeys.utxoLock(i.txid, i.vout))
  const record = async () => (await etcd.get<TxRecord>(WalletKeys.tx(tx.id)))!.value
  const step = async (method: 'broadcast' | 'track', id = tx.id) => {
    const entry = (await etcd.get<TxRecord>(WalletKeys.tx(id)))!
    await (coordinator as unknown as Record<string, (term: string, e: typeof entry) => Promise<void>>)[method](TERM, entry)
  }
  const refuse = (reason: string) => () => {
    throw new ChainRejectedError(reason)
  }

  beforeEach(async () => {
    etcd = new FakeEtcd()
    etcd.term = TERM
    chain = new FakeChain()
    coordinator = leaderOver(etcd, chain)
    await etcd.put(WalletKeys.tx(tx.id), tx)
    await etcd.put(WalletKeys.active(tx.id), { createdAt: tx.createdAt })
    for (const k of locks) await etcd.put(k, { txId: tx.id })
  })

  it('accepted: broadcast', async () => {
    await step('broadcast')
    assert.equal((await record()).state, 'broadcast')
  })

  it('400 "already in block chain" for a confirmed transaction: not failed, broadcast, then confirmed by tracking', async () => {
    chain.onBroadcast = refuse('sendrawtransaction RPC error: {"code":-27,"message":"Transaction already in block chain"}')
    chain.status = { found: true, confirmed: true, blockHeight: 100 }
    await step('broadcast')
    const r = await record()
    assert.equal(r.state, 'broadcast')
    assert.equal(r.error, null)
    await step('track')
    assert.equal((await record()).state, 'confirmed')
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), []) // released on confirmation, as usual
  })

  it('a refusal of a transaction an earlier leader already put in the mempool: followed as broadcast', async () => {
    chain.onBroadcast = refuse('sendrawtransaction RPC error: {"code":-26,"message":"txn-mempool-conflict"}')
    chain.status = { found: true, confirmed: false, blockHeight: null }
    await step('broadcast')
    assert.equal((await record()).state, 'broadcast')
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
  })

  it('a refusal that says "txn-already-in-mempool" even if the status lags: followed as broadcast', async () => {
    chain.onBroadcast = refuse('txn-already-in-mempool')
    await step('broadcast')
    assert.equal((await record()).state, 'broadcast')
  })

  it('an input spent by another transaction: failed INPUTS_SPENT_ELSEWHERE naming it, coins released', async () => {
    chain.onBroadcast = refuse('sendrawtransaction RPC error: {"code":-25,"message":"bad-txns-inputs-missingorspent"}')
    chain.spenders.set(`${'bb'.repeat(32)}:1`, { spent: true, txid: OTHER, confirmed: true })
    await step('broadcast')
    const r = await record()
    assert.equal(r.state, 'failed')
    assert.equal(r.error?.code, 'INPUTS_SPENT_ELSEWHERE')
    assert.match(r.error!.message, new RegExp(OTHER))
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), [])
    assert.equal(etcd.has(WalletKeys.active(tx.id)), false)
  })

  it('a truly invalid transaction: failed CHAIN_REJECTED, coins kept reserved (noted in the error)', async () => {
    chain.onBroadcast = refuse('sendrawtransaction RPC error: {"code":-26,"message":"mandatory-script-verify-flag-failed"}')
    await step('broadcast')
    const r = await record()
    assert.equal(r.state, 'failed')
    assert.equal(r.error?.code, 'CHAIN_REJECTED')
    assert.match(r.error!.message, /mandatory-script-verify-flag-failed/)
    assert.match(r.error!.message, /reserved/)
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
  })

  it('refused as CHAIN_REJECTED, then found on the chain after all: followed as broadcast again, confirmed, coins released (not held forever)', async () => {
    chain.onBroadcast = refuse('sendrawtransaction RPC error: {"code":-26,"message":"non-mandatory-script-verify-flag"}')
    await step('broadcast')
    assert.equal((await record()).state, 'failed')
    const recheck = () => (coordinator as unknown as { recheckRefused(term: string, active: Set<string>): Promise<void> }).recheckRefused(TERM, new Set())
    // The chain still does not know it: nothing changes, the coins stay reserved.
    await recheck()
    assert.equal((await record()).state, 'failed')
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
    // Another broadcast got it mined.
    chain.status = { found: true, confirmed: true, blockHeight: 100 }
    await recheck()
    const r = await record()
    assert.equal(r.state, 'broadcast')
    assert.equal(r.error, null)
    assert.equal(r.decision?.from, 'failed')
    assert.ok(etcd.has(WalletKeys.active(tx.id)), 'back in the active index: the leader follows it')
    await step('track')
    assert.equal((await record()).state, 'confirmed')
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), [])
  })

  it('refused and the chain cannot be asked why: nothing decided, retried later', async () => {
    chain.onBroadcast = refuse('bad-txns-inputs-missingorspent')
    chain.unreachable = true
    await step('broadcast')
    assert.equal((await record()).state, 'signed')
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
  })

  it('tracking: dropped from the mempool and its input since spent by another transaction: failed INPUTS_SPENT_ELSEWHERE, coins released', async () => {
    await step('broadcast')
    chain.onBroadcast = refuse('bad-txns-inputs-missingorspent')
    chain.spenders.set(`${'aa'.repeat(32)}:0`, { spent: true, txid: OTHER, confirmed: false })
    await step('track')
    const r = await record()
    assert.equal(r.state, 'failed')
    assert.equal(r.error?.code, 'INPUTS_SPENT_ELSEWHERE')
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), [])
  })
})

describe('TxCoordinatorService: a fee bump and the transaction it replaces (BIP125)', () => {
  let etcd: FakeEtcd
  let chain: FakeChain
  let coordinator: TxCoordinatorService
  const original: TxRecord = { ...signedTx(), state: 'broadcast' }
  const bump: TxRecord = { ...signedTx(), id: '00000000-0000-4000-8000-0000000000b2', txid: OTHER, state: 'broadcast', replacement: { of: original.id, kind: 'bump' } }
  const locks = original.inputs.map((i) => WalletKeys.utxoLock(i.txid, i.vout))
  const record = async (id: string) => (await etcd.get<TxRecord>(WalletKeys.tx(id)))!.value
  const step = async (method: 'broadcast' | 'track', id: string) => {
    const entry = (await etcd.get<TxRecord>(WalletKeys.tx(id)))!
    await (coordinator as unknown as Record<string, (term: string, e: typeof entry) => Promise<void>>)[method](TERM, entry)
  }

  beforeEach(async () => {
    etcd = new FakeEtcd()
    etcd.term = TERM
    chain = new FakeChain()
    coordinator = leaderOver(etcd, chain)
    for (const t of [original, bump]) {
      await etcd.put(WalletKeys.tx(t.id), t)
      await etcd.put(WalletKeys.active(t.id), { createdAt: t.createdAt })
    }
    // The reservations name the original: the bump shares them.
    for (const k of locks) await etcd.put(k, { txId: original.id })
  })

  it('the chain took the bump: the original ends failed REPLACED naming it, the coins stay reserved until the bump confirms and releases them', async () => {
    chain.onBroadcast = () => {
      throw new ChainRejectedError('sendrawtransaction RPC error: {"code":-26,"message":"insufficient fee, rejecting replacement"}')
    }
    chain.spenders.set(`${'aa'.repeat(32)}:0`, { spent: true, txid: OTHER, confirmed: false })
    await step('track', original.id)
    const o = await record(original.id)
    assert.equal(o.state, 'failed')
    assert.equal(o.error?.code, 'REPLACED')
    assert.equal(o.replacedBy, bump.id)
    assert.match(o.error!.message, new RegExp(`replaced by transaction ${bump.id}`))
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks, 'kept: the bump is not confirmed yet')
    chain.status = { found: true, confirmed: true, blockHeight: 101 }
    await step('track', bump.id)
    assert.equal((await record(bump.id)).state, 'confirmed')
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), [], 'released by the confirmed bump')
  })

  it('the chain kept the original: the bump ends failed REPLACEMENT_REFUSED and never releases the coins the original holds', async () => {
    await etcd.put(WalletKeys.tx(bump.id), { ...bump, state: 'signed' })
    chain.onBroadcast = () => {
      throw new ChainRejectedError('sendrawtransaction RPC error: {"code":-26,"message":"insufficient fee, rejecting replacement; new feerate <= old feerate"}')
    }
    chain.spenders.set(`${'aa'.repeat(32)}:0`, { spent: true, txid: TXID, confirmed: false })
    await step('broadcast', bump.id)
    const b = await record(bump.id)
    assert.equal(b.state, 'failed')
    assert.equal(b.error?.code, 'REPLACEMENT_REFUSED')
    assert.match(b.error!.message, new RegExp(`the chain kept transaction ${original.id}`))
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks, "still the original's")
    assert.equal((await record(original.id)).state, 'broadcast')
  })
})

describe('mpc_transaction_oldest_broadcast_age_seconds (TwTransactionStuckInBroadcast)', () => {
  it('is the age of the send waiting longest in broadcast; 0 with none', () => {
    const now = Date.parse('2026-01-01T12:00:00Z')
    const at = (iso: string, state: TxRecord['state']) => ({ ...signedTx(), state, history: [{ state: 'broadcast' as const, at: iso }] })
    assert.equal(oldestBroadcastAgeS([], now), 0)
    assert.equal(oldestBroadcastAgeS([at('2026-01-01T11:00:00Z', 'confirmed')], now), 0, 'a confirmed send is not waiting')
    assert.equal(oldestBroadcastAgeS([at('2026-01-01T11:30:00Z', 'broadcast'), at('2026-01-01T10:00:00Z', 'broadcast')], now), 7200)
  })

  it('the leader sets it at each step; a node that is not the leader says 0', async () => {
    const etcd = new FakeEtcd()
    etcd.term = TERM
    const tx = { ...signedTx(), state: 'broadcast' as const, history: [{ state: 'broadcast' as const, at: new Date(Date.now() - 5400_000).toISOString() }] }
    await etcd.put(WalletKeys.tx(tx.id), tx)
    await etcd.put(WalletKeys.active(tx.id), { createdAt: tx.createdAt })
    const coordinator = leaderOver(etcd, new FakeChain())
    ;(coordinator as unknown as { indexedTerm: string }).indexedTerm = TERM // the index is etcd's already
    const metrics = (coordinator as unknown as { metrics: MetricsService }).metrics
    const gauge = async () => (await metrics.oldestBroadcastAge.get()).values[0]?.value
    await (coordinator as unknown as { step(): Promise<void> }).step()
    assert.ok(Math.abs((await gauge()) - 5400) <= 2, String(await gauge()))
    ;(coordinator as unknown as { cluster: { isLeader: boolean; leaderTerm: string | null } }).cluster = { isLeader: false, leaderTerm: null }
    await (coordinator as unknown as { step(): Promise<void> }).step()
    assert.equal(await gauge(), 0)
  })
})

describe('EsploraClient: what "the chain knows the transaction" means', () => {
  let server: Server
  let client: EsploraClient
  const routes = new Map<string, [number, string]>()
  before(async () => {
    server = createServer((req, res) => {
      const [status, body] = routes.get(`${req.method} ${req.url}`) ?? [404, 'Transaction not found']
      res.writeHead(status).end(body)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    client = new EsploraClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { timeoutMs: 2000 })
  })
  after(() => new Promise<void>((r) => server.close(() => r())))

  it('status {"confirmed":false} of a transaction Esplora never saw is not "found"; one in its mempool is', async () => {
    routes.set(`GET /tx/${TXID}/status`, [200, '{"confirmed":false}'])
    assert.deepEqual(await client.txStatus(TXID), { found: false, confirmed: false, blockHeight: null })
    routes.set(`GET /tx/${TXID}`, [200, '{}'])
    assert.deepEqual(await client.txStatus(TXID), { found: true, confirmed: false, blockHeight: null })
    routes.set(`GET /tx/${TXID}/status`, [200, '{"confirmed":true,"block_height":7}'])
    assert.deepEqual(await client.txStatus(TXID), { found: true, confirmed: true, blockHeight: 7 })
  })

  it('outspend: spent by whom, or unspent', async () => {
    routes.set(`GET /tx/${TXID}/outspend/0`, [200, `{"spent":true,"txid":"${OTHER}","vin":0,"status":{"confirmed":true}}`])
    routes.set(`GET /tx/${TXID}/outspend/1`, [200, '{"spent":false}'])
    assert.deepEqual(await client.outspend(TXID, 0), { spent: true, txid: OTHER, confirmed: true })
    assert.deepEqual(await client.outspend(TXID, 1), { spent: false, txid: null, confirmed: false })
  })

  it('a 400 "already in block chain" is a ChainRejectedError that says it is already known; an invalid one does not', async () => {
    routes.set('POST /tx', [400, 'sendrawtransaction RPC error: {"code":-27,"message":"Transaction already in block chain"}'])
    const known = await client.broadcast('00').catch((e: unknown) => e)
    assert.ok(known instanceof ChainRejectedError)
    assert.equal(known.alreadyKnown, true)
    routes.set('POST /tx', [400, 'sendrawtransaction RPC error: {"code":-26,"message":"mandatory-script-verify-flag-failed"}'])
    const bad = await client.broadcast('00').catch((e: unknown) => e)
    assert.ok(bad instanceof ChainRejectedError)
    assert.equal(bad.alreadyKnown, false)
    assert.equal(new ChainRejectedError('txn-already-in-mempool').alreadyKnown, true)
    assert.equal(new ChainRejectedError('Transaction outputs already in utxo set').alreadyKnown, true)
  })
})

describe('TxCoordinatorService: a signing record rewritten in etcd (issue 13: no honest leader made the author of a faulty decision)', () => {
  /**
   * Etcd as a compromised node leaves it: a send back in `signing` with an attempt carrying three
   * approvals (signed by node 5), refused by its four signers; the four genuine votes are there.
   */
  async function rewritten(ledger?: { get(id: string): { finished: boolean } | null }) {
    const etcd = new FakeEtcd()
    etcd.term = TERM
    const coordinator = leaderOver(etcd, new FakeChain(), ledger)
    const tx: TxRecord = { ...signedTx(), state: 'signing', attempt: 1, signers: [1, 2, 3, 4], signedTx: null, txid: null }
    const votes = [1, 2, 3, 4].map((nodeId) => {
      const payload = { txId: tx.id, proposalHash: tx.proposalHash, nodeId, approve: true, reason: null, votedAt: tx.createdAt }
      return { payload, signature: signAs(nodeId, payload) }
    })
    for (const v of votes) await etcd.put(WalletKeys.vote(tx.id, v.payload.nodeId), v)
    const forged: SigningAttempt = {
      txId: tx.id,
      attempt: 1,
      signers: [1, 2, 3, 4],
      mode: 'frost',
      presignatures: tx.inputs.map(() => null),
      createdAt: tx.createdAt,
      term: '0',
      proposalHash: tx.proposalHash,
      leader: 5,
      approvals: votes.slice(0, 3),
    }
    await etcd.put(WalletKeys.attempt(tx.id, 1), { ...forged, signature: signAs(5, attemptBody(forged)) })
    for (const nodeId of [1, 2, 3, 4]) {
      const r: SigningResult = { nodeId, ok: false, code: 'BAD_ATTEMPT', error: 'the attempt carries 3 approvals', culprits: [], reportedAt: tx.createdAt, txId: tx.id, attempt: 1 }
      await etcd.put(WalletKeys.result(tx.id, 1, nodeId), { ...r, signature: signAs(nodeId, resultBody(r)) })
    }
    await etcd.put(WalletKeys.tx(tx.id), tx)
    const entry = (await etcd.get<TxRecord>(WalletKeys.tx(tx.id)))!
    await (coordinator as unknown as { advance(term: string, e: typeof entry): Promise<void> }).advance(TERM, entry)
    return { before: entry, after: (await etcd.get<TxRecord>(WalletKeys.tx(tx.id)))! }
  }

  it('the retry decision carries the four approvals the leader verified, not the attempt’s three', async () => {
    const { after } = await rewritten()
    assert.equal(after.value.state, 'approved')
    assert.equal(after.value.error?.code, 'BAD_ATTEMPT')
    // What every honest follower checks before it accepts the decision (else it accuses this leader).
    assert.equal(await decisionFault(after.value.decision!, 4, 5, (v) => Promise.resolve(signAs(v.payload.nodeId, v.payload) === v.signature)), null)
    assert.deepEqual(
      after.value.decision!.votes.map((v) => v.payload.nodeId),
      [1, 2, 3, 4],
    )
  })

  it('a send this node saw finish (its approval ledger) is not advanced at all, whatever etcd says', async () => {
    const { before, after } = await rewritten({ get: () => ({ finished: true }) })
    assert.equal(after.modRevision, before.modRevision, 'nothing written')
    assert.equal(after.value.state, 'signing')
  })
})
