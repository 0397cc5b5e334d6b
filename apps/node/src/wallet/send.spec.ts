import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { beforeEach, describe, it } from 'node:test'
import { deriveEcdsaChild, taprootAddress } from '@tw/bitcoin'
import type { SendRequest } from '@tw/api'
import { canonicalJson } from '../common/canonical-json'
import { withRequestId } from '../common/request-context'
import type { AppConfig } from '../config/config'
import { FakeEtcd } from '../testing/fake-etcd'
import { SendService } from './send.service'
import { WalletKeys, type TxRecord } from './wallet.types'

// SendService over an in-memory etcd whose transactions can time out after (or before) they
// commit: one Idempotency-Key, one transaction, whatever fails around the commit.

// A Taproot wallet key: x-only keys derived from BIP32 test vector 1's public key (public data only).
const XPUB = {
  publicKey: Buffer.from('0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2', 'hex'),
  chainCode: Buffer.from('873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508', 'hex'),
}
const own = (p: number[]) => taprootAddress(Buffer.from(deriveEcdsaChild(XPUB.publicKey, XPUB.chainCode, p)).subarray(1), 'regtest')
const DEST = own([9, 9])

const config = {
  nodeId: 1,
  threshold: 4,
  clusterSize: 5,
  chain: { network: 'regtest', confirmations: 1 },
  policy: { maxAmountSats: 1_000_000, dailyLimitSats: 10_000_000, maxFeeSats: 50_000, minFeeRate: 1, maxFeeRate: 100, allow: [], deny: [] },
} as unknown as AppConfig

const BODY: SendRequest = { to: DEST.address, amountSats: 50_000, feeRate: 2, type: 'taproot' } as SendRequest
const KEY = 'client-key-1'
const idemKey = WalletKeys.idempotency(createHash('sha256').update(KEY).digest('hex'))
const bodyHash = (b: SendRequest) =>
  createHash('sha256')
    .update(canonicalJson({ to: b.to, amountSats: b.amountSats, feeRate: b.feeRate ?? null, type: b.type }))
    .digest('hex')

describe('SendService: an Idempotency-Key gives exactly one transaction', () => {
  let etcd: FakeEtcd
  let failToDto: number
  let coins: number
  let estimates: Record<string, number>

  function service(): SendService {
    const key = { keyId: 'k1', type: 'taproot' }
    const utxos = () =>
      Array.from({ length: coins }, (_, i) => ({
        txid: String(i + 1).padStart(64, 'a'),
        vout: 0,
        value: 100_000,
        scriptPubKey: own([0, i]).scriptPubKey,
        keyType: 'taproot' as const,
        path: [0, i],
        confirmed: true,
        address: own([0, i]).address,
      }))
    const wallet = {
      key: async () => key,
      chain: () => ({ tipHeight: async () => 200, feeEstimates: async () => estimates }),
      confirmedUtxos: async () => utxos(),
      reservations: async () => new Map((await etcd.getPrefix<{ txId: string }>(WalletKeys.utxoLocks)).map((e) => [e.key.slice(WalletKeys.utxoLocks.length), e.value.txId])),
      derive: (_k: unknown, path: number[]) => own(path),
    }
    const store = {
      get: (id: string) => etcd.get<TxRecord>(WalletKeys.tx(id)),
      mirror: async () => undefined,
      toDto: async (r: TxRecord) => {
        if (failToDto-- > 0) throw new Error('database down')
        return { id: r.id, state: r.state } as never
      },
    }
    return new SendService(
      config,
      etcd as never,
      wallet as never,
      store as never,
      { record: async () => undefined } as never,
      { has: () => false } as never,
      { readyPaths: async () => new Set() } as never,
      { sign: () => 'signed-by-the-proposer' } as never,
    )
  }
  const txIds = () => etcd.keys(WalletKeys.txs).map((k) => k.slice(WalletKeys.txs.length))

  beforeEach(() => {
    etcd = new FakeEtcd()
    failToDto = 0
    coins = 3
    estimates = {}
  })

  it('a commit whose answer was lost (the atomic commits, then throws): the retry returns the same transaction, one record', async () => {
    const svc = service()
    etcd.failAtomic.push('after')
    const first = await svc.create(BODY, KEY).catch((e: Error) => e)
    assert.equal(txIds().length, 1)
    const [id] = txIds()
    if (!(first instanceof Error)) assert.equal(first.tx.id, id)
    const retry = await svc.create(BODY, KEY)
    assert.equal(retry.tx.id, id)
    assert.equal(retry.created, false)
    assert.deepEqual(txIds(), [id])
    assert.equal(etcd.keys('/tw/utxo-locks/').length, 1)
  })

  it('a failure after the commit (the answer could not be built): the retry returns the same transaction', async () => {
    const svc = service()
    failToDto = 1
    await assert.rejects(svc.create(BODY, KEY), /database down/)
    const [id] = txIds()
    assert.ok(id)
    const retry = await svc.create(BODY, KEY)
    assert.equal(retry.tx.id, id)
    assert.deepEqual(txIds(), [id])
  })

  it('the idempotency record is written in the same etcd transaction as the proposal', async () => {
    const svc = service()
    const { tx } = await svc.create(BODY, KEY)
    const commit = etcd.atomics.find((ops) => ops.puts?.some(([k]) => k === WalletKeys.tx(tx.id)))!
    assert.ok(commit.puts!.some(([k, v]) => k === idemKey && (v as { txId: string }).txId === tx.id))
    assert.deepEqual(etcd.value(idemKey), { txId: tx.id, bodyHash: bodyHash(BODY), state: 'committed' })
  })

  it('a commit that timed out without landing: nothing committed, the claim released, the retry makes one transaction', async () => {
    const svc = service()
    etcd.failAtomic.push('before')
    await assert.rejects(svc.create(BODY, KEY), /no answer/)
    assert.deepEqual(txIds(), [])
    assert.equal(etcd.has(idemKey), false)
    const retry = await svc.create(BODY, KEY)
    assert.equal(retry.created, true)
    assert.deepEqual(txIds(), [retry.tx.id])
  })

  it('a crashed request leaves only a claim: once it expires, the retry succeeds (no permanent 409) and the crashed commit can no longer land', async () => {
    const svc = service()
    // The commit and the release both time out: the request gives up with its claim in place.
    etcd.failAtomic.push('before', 'before')
    await assert.rejects(svc.create(BODY, KEY), /no answer/)
    const stale = (await etcd.get<{ txId: string; state: string; expiresAt: string }>(idemKey))!
    assert.equal(stale.value.state, 'claimed')
    assert.deepEqual(txIds(), [])
    // … the claim's lease runs out (as if IDEMPOTENCY_CLAIM_MS passed).
    await etcd.put(idemKey, { ...stale.value, expiresAt: new Date(Date.now() - 1000).toISOString() })
    const expiredRev = (await etcd.get(idemKey))!.modRevision
    const retry = await svc.create(BODY, KEY)
    assert.equal(retry.created, true)
    assert.notEqual(retry.tx.id, stale.value.txId)
    assert.deepEqual(txIds(), [retry.tx.id])
    // The crashed request's commit compared its claim's revision: it fails now.
    assert.equal(await etcd.atomic({ unchanged: [[idemKey, expiredRev]], puts: [[WalletKeys.tx(stale.value.txId), {}]] }), false)
    assert.equal((await svc.create(BODY, KEY)).tx.id, retry.tx.id)
  })

  it('a stale claim left by a crash before proposing is taken over', async () => {
    await etcd.put(idemKey, { txId: 'crashed', bodyHash: bodyHash(BODY), state: 'claimed', expiresAt: new Date(Date.now() - 1).toISOString() })
    const svc = service()
    const res = await svc.create(BODY, KEY)
    assert.equal(res.created, true)
    assert.deepEqual(txIds(), [res.tx.id])
  })

  it('two concurrent requests with the same key: one transaction', async () => {
    const svc = service()
    // The first commit waits a moment, so the second request finds a live claim.
    let delayed = false
    etcd.beforeAtomic = async () => {
      if (!delayed) {
        delayed = true
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    const [a, b] = await Promise.all([svc.create(BODY, KEY), svc.create(BODY, KEY)])
    assert.equal(a.tx.id, b.tx.id)
    assert.deepEqual(txIds(), [a.tx.id])
    assert.deepEqual([a.created, b.created].sort(), [false, true])
  })

  it('the same key with another body: IDEMPOTENCY_KEY_REUSED 409 (committed and while claimed)', async () => {
    const svc = service()
    await svc.create(BODY, KEY)
    await assert.rejects(
      svc.create({ ...BODY, amountSats: 40_000 }, KEY),
      (e: { code?: string; httpStatus?: number }) => e.code === 'IDEMPOTENCY_KEY_REUSED' && e.httpStatus === 409,
    )
    const other = 'client-key-2'
    await etcd.put(WalletKeys.idempotency(createHash('sha256').update(other).digest('hex')), {
      txId: 'x',
      bodyHash: bodyHash(BODY),
      state: 'claimed',
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    })
    await assert.rejects(svc.create({ ...BODY, amountSats: 40_000 }, other), (e: { code?: string }) => e.code === 'IDEMPOTENCY_KEY_REUSED')
    assert.equal(txIds().length, 1)
  })

  it('a refused request (insufficient funds) frees the key for a corrected retry', async () => {
    const svc = service()
    coins = 0
    await assert.rejects(svc.create(BODY, KEY), (e: { code?: string }) => e.code === 'INSUFFICIENT_FUNDS')
    assert.equal(etcd.has(idemKey), false)
    coins = 3
    const res = await svc.create({ ...BODY, amountSats: 40_000 }, KEY)
    assert.deepEqual(txIds(), [res.tx.id])
  })

  it('without a key: a commit whose answer was lost is still answered with its transaction', async () => {
    const svc = service()
    etcd.failAtomic.push('after')
    const res = await svc.create(BODY, null)
    assert.deepEqual(txIds(), [res.tx.id])
  })

  it("the record keeps the id of the request that made it (every node's log lines about it carry it)", async () => {
    const svc = service()
    await withRequestId('order-9', () => svc.create(BODY, KEY))
    const [id] = txIds()
    assert.equal((etcd.value(WalletKeys.tx(id)) as TxRecord).requestId, 'order-9')
  })

  it('a quote (dry run) writes nothing, and the same request sent next builds exactly the quoted transaction', async () => {
    const svc = service()
    const quote = await svc.quote(BODY)
    assert.deepEqual(etcd.keys('/'), [], 'no coin reserved, no change index taken, no record')
    assert.equal(etcd.atomics.length, 0)
    assert.equal(quote.signingMode, 'frost')
    assert.equal(quote.tipHeight, 200)
    await svc.create(BODY, KEY)
    const [id] = txIds()
    const r = etcd.value(WalletKeys.tx(id)) as TxRecord
    assert.equal(quote.feeSats, r.feeSats)
    assert.equal(quote.vsize, r.vsize)
    assert.equal(quote.feeRate, r.feeRate)
    assert.deepEqual(
      quote.inputs.map((i) => [i.txid, i.vout, i.valueSats]),
      r.inputs.map((i) => [i.txid, i.vout, i.value]),
    )
    assert.deepEqual(
      quote.outputs.map((o) => [o.address, o.valueSats, o.change]),
      r.outputs.map((o) => [o.address, o.value, o.change]),
    )
    assert.equal(quote.changeSats, r.outputs.find((o) => o.change)?.value)
    // The inputs pay exactly the outputs and the fee.
    assert.equal(
      quote.inputs.reduce((a, i) => a + i.valueSats, 0),
      quote.amountSats + quote.changeSats + quote.feeSats,
    )
  })

  it('a quote passes over coins reserved by a send in flight', async () => {
    const svc = service()
    await svc.create(BODY, KEY)
    const reserved = etcd.keys('/tw/utxo-locks/').map((k) => k.slice('/tw/utxo-locks/'.length))
    assert.equal(reserved.length, 1)
    const quote = await svc.quote(BODY)
    assert.equal(quote.inputs.length, 1)
    assert.ok(!reserved.includes(`${quote.inputs[0].txid}:${quote.inputs[0].vout}`), 'the reserved coin is not quoted again')
  })

  it("the fee rate: the chain's estimate for the request's target (the largest target it gives at or below it; default 6), and maxFeeRate refuses a dearer one", async () => {
    const svc = service()
    estimates = { '1': 20.2, '3': 10, '6': 4.5, '144': 1.5 }
    const { feeRate: _given, ...noRate } = BODY
    const rate = async (over: Partial<SendRequest>) => (await svc.quote({ ...noRate, ...over } as SendRequest)).feeRate
    assert.equal(await rate({}), 5, 'default target 6: 4.5 rounded up')
    assert.equal(await rate({ targetBlocks: 1 }), 21)
    assert.equal(await rate({ targetBlocks: 2 }), 21, 'no estimate for 2: the one for 1')
    assert.equal(await rate({ targetBlocks: 100 }), 5)
    assert.equal(await rate({ targetBlocks: 1008 }), 2)
    await assert.rejects(
      svc.quote({ ...noRate, targetBlocks: 1, maxFeeRate: 15 } as SendRequest),
      (e: { code?: string; httpStatus?: number; message?: string }) =>
        e.code === 'FEE_TOO_HIGH' && e.httpStatus === 422 && /21 sat\/vB, above this request's maxFeeRate of 15/.test(e.message ?? ''),
    )
    assert.equal(await rate({ targetBlocks: 3, maxFeeRate: 15 }), 10)
    await assert.rejects(svc.quote({ ...BODY, maxFeeRate: 0 }), (e: { code?: string }) => e.code === 'FEE_RATE_OUT_OF_BOUNDS')
    // A send refused for its maxFeeRate reserves nothing.
    await assert.rejects(svc.create({ ...noRate, targetBlocks: 1, maxFeeRate: 15 } as SendRequest, KEY), (e: { code?: string }) => e.code === 'FEE_TOO_HIGH')
    assert.deepEqual(etcd.keys('/tw/utxo-locks/'), [])
  })

  it('a quote refuses what a send refuses, with the same codes, and writes nothing', async () => {
    const svc = service()
    coins = 0
    await assert.rejects(svc.quote(BODY), (e: { code?: string; httpStatus?: number }) => e.code === 'INSUFFICIENT_FUNDS' && e.httpStatus === 422)
    coins = 3
    await assert.rejects(svc.quote({ ...BODY, to: 'bc1qnotregtest' }), (e: { code?: string }) => e.code === 'INVALID_ADDRESS')
    await assert.rejects(svc.quote({ ...BODY, amountSats: 2_000_000 }), (e: { code?: string; httpStatus?: number }) => e.code === 'POLICY_VIOLATION' && e.httpStatus === 422)
    await assert.rejects(svc.quote({ ...BODY, feeRate: 0.1 }), (e: { code?: string }) => e.code === 'FEE_RATE_OUT_OF_BOUNDS')
    assert.deepEqual(etcd.keys('/'), [])
  })
})
