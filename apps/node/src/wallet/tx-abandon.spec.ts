import assert from 'node:assert/strict'
import { beforeEach, describe, it } from 'node:test'
import type { ChainOutspend, ChainTxStatus } from '../chain/chain.client'
import { FakeEtcd } from '../testing/fake-etcd'
import { TxAbandonService } from './tx-abandon.service'
import { WalletKeys, type TxRecord } from './wallet.types'

// `tx abandon` (issue 14 item 2) over an in-memory etcd and a scripted chain: a failed send's
// coin reservations are released only when the chain has neither the signed transaction nor an
// input spent by it, in one compare-and-swap, audited; the record itself is never rewritten.

const TXID = 'ee'.repeat(32)
const OTHER = 'cc'.repeat(32)
const CALLER = { tokenId: '0b6f1d1e-4a57-4a4e-9b1e-8a3f7e1d2c3b', name: 'ops-admin' }
const REASON = 'refused as mandatory-script-verify-flag-failed; checked with the signers'

/** A chain whose answers each test sets; it counts the questions. */
class FakeChain {
  url = 'fake'
  asked = 0
  status: ChainTxStatus = { found: false, confirmed: false, blockHeight: null }
  spenders = new Map<string, ChainOutspend>()
  unreachable = false
  async txStatus(txid: string): Promise<ChainTxStatus> {
    this.asked++
    if (this.unreachable) throw new Error('connect ECONNREFUSED 127.0.0.1:3002')
    return txid === TXID ? this.status : { found: false, confirmed: false, blockHeight: null }
  }
  async outspend(txid: string, vout: number): Promise<ChainOutspend> {
    this.asked++
    if (this.unreachable) throw new Error('connect ECONNREFUSED 127.0.0.1:3002')
    return this.spenders.get(`${txid}:${vout}`) ?? { spent: false, txid: null, confirmed: false }
  }
}

function failedTx(patch: Partial<TxRecord> = {}): TxRecord {
  const at = '2026-01-01T12:00:00.000Z'
  return {
    id: '00000000-0000-4000-8000-0000000000c1',
    type: 'taproot',
    keyId: 'k1',
    to: 'bcrt1pdest',
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
    state: 'failed',
    attempt: 1,
    signers: [1, 2, 3, 4],
    signingMode: 'frost',
    signedTx: '0200',
    txid: TXID,
    error: { code: 'CHAIN_REJECTED', message: 'mandatory-script-verify-flag-failed (its coins stay reserved: this signed transaction may still confirm)' },
    createdAt: at,
    updatedAt: at,
    history: [],
    ...patch,
  }
}

/** What a rejected call threw: code and HTTP status. */
async function refusal(p: Promise<unknown>): Promise<{ code: string; httpStatus: number; message: string }> {
  try {
    await p
  } catch (err) {
    return err as { code: string; httpStatus: number; message: string }
  }
  assert.fail('expected a refusal')
}

describe("TxAbandonService: a failed send's coins are released only when the chain says no signed version can confirm", () => {
  let etcd: FakeEtcd
  let chain: FakeChain
  let audited: { action: string; details: Record<string, unknown>; actor: string }[]
  let svc: TxAbandonService
  const tx = failedTx()
  const locks = tx.inputs.map((i) => WalletKeys.utxoLock(i.txid, i.vout))

  beforeEach(async () => {
    etcd = new FakeEtcd()
    chain = new FakeChain()
    audited = []
    const wallet = { chain: () => chain }
    const store = { get: (id: string) => etcd.get<TxRecord>(WalletKeys.tx(id)), fromMirror: async () => null }
    const audit = { record: async (action: string, details: Record<string, unknown>, actor: string) => void audited.push({ action, details, actor }) }
    svc = new TxAbandonService(etcd as never, wallet as never, store as never, audit as never)
    await etcd.put(WalletKeys.tx(tx.id), tx)
    for (const k of locks) await etcd.put(k, { txId: tx.id })
  })

  it('failed CHAIN_REJECTED, the chain knows nothing of it: both locks go in one compare, audited with reason, outpoints, chain answers and caller; the record is untouched', async () => {
    const before = (await etcd.get<TxRecord>(WalletKeys.tx(tx.id)))!
    const r = await svc.abandon(tx.id, REASON, CALLER)
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), [])
    assert.deepEqual(r.released, [`${'aa'.repeat(32)}:0`, `${'bb'.repeat(32)}:1`])
    assert.equal(r.id, tx.id)
    assert.equal(r.txid, TXID)
    assert.ok(!Number.isNaN(Date.parse(r.abandonedAt)))
    assert.match(r.warning, new RegExp(`${TXID} stays valid while its inputs are unspent`))
    assert.match(r.warning, /broadcast it later/)
    assert.match(r.warning, /only one of the two can confirm/)
    assert.match(r.warning, /pay them twice/)
    // The record: same bytes, same revision (no state change, the leader's decision intact).
    const after = (await etcd.get<TxRecord>(WalletKeys.tx(tx.id)))!
    assert.equal(after.modRevision, before.modRevision)
    assert.deepEqual(after.value, tx)
    // One atomic: the record's and every lock's revision compared, exactly the locks deleted.
    const ops = etcd.atomics.at(-1)!
    assert.deepEqual(ops.deletes, locks)
    assert.deepEqual(
      ops.unchanged?.map(([k]) => k),
      [WalletKeys.tx(tx.id), ...locks],
    )
    assert.equal(etcd.atomics.length, 1)
    assert.equal(audited.length, 1)
    const a = audited[0]
    assert.equal(a.action, 'tx.abandoned')
    assert.equal(a.actor, `token:${CALLER.tokenId}`)
    assert.equal(a.details.reason, REASON)
    assert.equal(a.details.tokenName, 'ops-admin')
    assert.equal(a.details.txid, TXID)
    assert.deepEqual(a.details.released, r.released)
    assert.deepEqual(a.details.error, tx.error)
    const asked = a.details.chain as { status: ChainTxStatus; outspends: { outpoint: string; spent: boolean }[] }
    assert.equal(asked.status.found, false)
    assert.deepEqual(
      asked.outspends.map((s) => [s.outpoint, s.spent]),
      [
        [`${'aa'.repeat(32)}:0`, false],
        [`${'bb'.repeat(32)}:1`, false],
      ],
    )
  })

  it('the chain has the transaction in its mempool: 409 TX_ON_CHAIN, locks kept, nothing audited', async () => {
    chain.status = { found: true, confirmed: false, blockHeight: null }
    const e = await refusal(svc.abandon(tx.id, REASON, CALLER))
    assert.equal(e.code, 'TX_ON_CHAIN')
    assert.equal(e.httpStatus, 409)
    assert.match(e.message, /in the mempool/)
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
    assert.deepEqual(audited, [])
  })

  it('the transaction is in a block: TX_ON_CHAIN naming the block', async () => {
    chain.status = { found: true, confirmed: true, blockHeight: 205 }
    const e = await refusal(svc.abandon(tx.id, REASON, CALLER))
    assert.equal(e.code, 'TX_ON_CHAIN')
    assert.match(e.message, /in block 205/)
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
  })

  it('an input spent by this very txid (the status lagging): TX_ON_CHAIN, locks kept', async () => {
    chain.spenders.set(`${'bb'.repeat(32)}:1`, { spent: true, txid: TXID, confirmed: false })
    const e = await refusal(svc.abandon(tx.id, REASON, CALLER))
    assert.equal(e.code, 'TX_ON_CHAIN')
    assert.match(e.message, new RegExp(`input ${'bb'.repeat(32)}:1 is spent by transaction ${TXID}`))
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
  })

  it('an input spent by another transaction: this one can never confirm, its locks are released', async () => {
    chain.spenders.set(`${'aa'.repeat(32)}:0`, { spent: true, txid: OTHER, confirmed: true })
    const r = await svc.abandon(tx.id, REASON, CALLER)
    assert.equal(r.released.length, 2)
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), [])
  })

  it('not failed (broadcast, or confirmed): 409 TX_NOT_ABANDONABLE saying so, the chain not even asked', async () => {
    for (const state of ['broadcast', 'signed', 'confirmed'] as const) {
      await etcd.put(WalletKeys.tx(tx.id), { ...tx, state, error: null })
      const e = await refusal(svc.abandon(tx.id, REASON, CALLER))
      assert.equal(e.code, 'TX_NOT_ABANDONABLE')
      assert.equal(e.httpStatus, 409)
      assert.match(e.message, new RegExp(`is ${state}, not failed`))
    }
    assert.equal(chain.asked, 0)
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
  })

  it('a send replaced by its fee bump: TX_NOT_ABANDONABLE, the coins stay reserved for the bump (which the chain has)', async () => {
    const bumpId = '00000000-0000-4000-8000-0000000000f2'
    await etcd.put(WalletKeys.tx(tx.id), { ...tx, error: { code: 'REPLACED', message: 'replaced' }, replacedBy: bumpId })
    chain.spenders.set(`${'aa'.repeat(32)}:0`, { spent: true, txid: OTHER, confirmed: false })
    const e = await refusal(svc.abandon(tx.id, REASON, CALLER))
    assert.equal(e.code, 'TX_NOT_ABANDONABLE')
    assert.match(e.message, new RegExp(`replaced by ${bumpId}`))
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
    assert.equal(audited.length, 0)
  })

  it('a second abandon after the locks are gone: TX_NOT_ABANDONABLE "already released", audited once', async () => {
    await svc.abandon(tx.id, REASON, CALLER)
    const e = await refusal(svc.abandon(tx.id, REASON, CALLER))
    assert.equal(e.code, 'TX_NOT_ABANDONABLE')
    assert.match(e.message, /no coin reservations \(already released\)/)
    assert.equal(audited.length, 1)
  })

  it('the chain cannot be asked: 503 CHAIN_UNAVAILABLE, nothing released', async () => {
    chain.unreachable = true
    const e = await refusal(svc.abandon(tx.id, REASON, CALLER))
    assert.equal(e.code, 'CHAIN_UNAVAILABLE')
    assert.equal(e.httpStatus, 503)
    assert.match(e.message, /nothing released/)
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
    assert.deepEqual(audited, [])
  })

  it('a lock that names another transaction is not its to release: only the one naming it goes', async () => {
    await etcd.put(locks[1], { txId: 'another-send' })
    const r = await svc.abandon(tx.id, REASON, CALLER)
    assert.deepEqual(r.released, [`${'aa'.repeat(32)}:0`])
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), [locks[1]])
    assert.deepEqual(etcd.value(locks[1]), { txId: 'another-send' })
  })

  it("no lock names it at all (each reserved by another send): TX_NOT_ABANDONABLE, the others' locks kept", async () => {
    for (const k of locks) await etcd.put(k, { txId: 'another-send' })
    const e = await refusal(svc.abandon(tx.id, REASON, CALLER))
    assert.equal(e.code, 'TX_NOT_ABANDONABLE')
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
  })

  it('a lock or the record changing between the check and the release: 409 CONFLICT, nothing released', async () => {
    etcd.beforeAtomic = async () => {
      etcd.beforeAtomic = null
      await etcd.put(locks[0], { txId: tx.id }) // rewritten: a new revision
    }
    const e = await refusal(svc.abandon(tx.id, REASON, CALLER))
    assert.equal(e.code, 'CONFLICT')
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
    assert.deepEqual(audited, [])
  })

  it('etcd does not answer the release: committed → answered and audited as released; not committed → 503, locks kept', async () => {
    etcd.failAtomic.push('before')
    const e = await refusal(svc.abandon(tx.id, REASON, CALLER))
    assert.equal(e.code, 'DEPENDENCY_UNAVAILABLE')
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), locks)
    assert.deepEqual(audited, [])
    etcd.failAtomic.push('after')
    const r = await svc.abandon(tx.id, REASON, CALLER)
    assert.equal(r.released.length, 2)
    assert.deepEqual(etcd.keys(WalletKeys.utxoLocks), [])
    assert.equal(audited.length, 1)
  })

  it('an unknown id: NOT_FOUND; an id pruned from etcd but in the mirror: TX_NOT_ABANDONABLE', async () => {
    const e = await refusal(svc.abandon('00000000-0000-4000-8000-0000000000ff', REASON, CALLER))
    assert.equal(e.code, 'NOT_FOUND')
    assert.equal(e.httpStatus, 404)
    const store = { get: async () => null, fromMirror: async () => ({ id: tx.id, state: 'failed' }) }
    const pruned = new TxAbandonService(etcd as never, { chain: () => chain } as never, store as never, { record: async () => undefined } as never)
    const m = await refusal(pruned.abandon(tx.id, REASON, CALLER))
    assert.equal(m.code, 'TX_NOT_ABANDONABLE')
    assert.match(m.message, /left etcd/)
  })

  it('without a caller identity the actor is "api"', async () => {
    await svc.abandon(tx.id, REASON, null)
    assert.equal(audited[0].actor, 'api')
    assert.equal(audited[0].details.tokenName, null)
  })
})
