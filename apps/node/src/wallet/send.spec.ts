import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { beforeEach, describe, it } from 'node:test'
import { buildUnsignedTransaction, decodeTransaction, deriveEcdsaChild, estimateVsize, taprootAddress, transactionId } from '@tw/bitcoin'
import type { SendRequest } from '@tw/api'
import { canonicalJson } from '../common/canonical-json'
import { withRequestId } from '../common/request-context'
import type { AppConfig } from '../config/config'
import { FakeEtcd } from '../testing/fake-etcd'
import { checkProposal, proposalBody, proposalHash, type PolicyContext } from './policy'
import { ReplaceService } from './replace.service'
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
  policy: { maxAmountSats: 1_000_000, dailyLimitSats: 10_000_000, maxFeeSats: 50_000, minFeeRate: 1, maxFeeRate: 100, allow: [], deny: [own([9, 7]).address] },
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
    assert.equal(await rate({}), 4.5, 'default target 6')
    assert.equal(await rate({ targetBlocks: 1 }), 20.2)
    assert.equal(await rate({ targetBlocks: 2 }), 20.2, 'no estimate for 2: the one for 1')
    assert.equal(await rate({ targetBlocks: 100 }), 4.5)
    assert.equal(await rate({ targetBlocks: 1008 }), 1.5)
    // Rounded up to 0.1 sat/vB, never below the policy's minimum (1 sat/vB here).
    estimates = { '6': 4.01, '144': 0.34 }
    assert.equal(await rate({}), 4.1)
    assert.equal(await rate({ targetBlocks: 144 }), 1)
    estimates = { '1': 20.2, '3': 10, '6': 4.5, '144': 1.5 }
    await assert.rejects(
      svc.quote({ ...noRate, targetBlocks: 1, maxFeeRate: 15 } as SendRequest),
      (e: { code?: string; httpStatus?: number; message?: string }) =>
        e.code === 'FEE_TOO_HIGH' && e.httpStatus === 422 && /20\.2 sat\/vB, above this request's maxFeeRate of 15/.test(e.message ?? ''),
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

  /** A voter's view of `r`: the wallet's own derivation, the coins as the chain has them, the locks in etcd. */
  function voterContext(): PolicyContext {
    const locks = new Map(etcd.keys('/tw/utxo-locks/').map((k) => [k.slice('/tw/utxo-locks/'.length), (etcd.value(k) as { txId: string }).txId]))
    return {
      network: 'regtest',
      policy: config.policy,
      scriptAt: (path) => Buffer.from(own(path).scriptPubKey).toString('hex'),
      utxoExists: (txid, vout, value) => vout === 0 && value === 100_000 && Number(txid.replace(/^a+/, '')) <= coins,
      lockOf: (txid, vout) => locks.get(`${txid}:${vout}`),
      spentToday: 0,
    }
  }
  const onlyRecord = () => etcd.value(WalletKeys.tx(txIds()[0])) as TxRecord
  const paysOf = (r: TxRecord) => decodeTransaction(r.unsignedTx).outputs.map((o) => [Buffer.from(o.scriptPubKey).toString('hex'), o.value])
  const scriptOf = (address: string) => Buffer.from(address === DEST.address ? DEST.scriptPubKey : own([9, Number(address.slice(-1))]).scriptPubKey).toString('hex')
  const R = [own([9, 1]), own([9, 2]), own([9, 3])]

  it('a batch: one output per recipient in order, then the change; the record and the proposal hash carry the recipients, memo and external id; voters approve it', async () => {
    const svc = service()
    const body = {
      recipients: [
        { to: R[0].address, amountSats: 30_000 },
        { to: R[1].address, amountSats: 45_000 },
        { to: R[2].address, amountSats: 60_000 },
      ],
      feeRate: 2,
      type: 'taproot',
      memo: 'March payroll',
      externalId: 'payroll-2026-03',
    } as SendRequest
    await svc.create(body, KEY)
    const r = onlyRecord()
    assert.deepEqual(r.recipients, [
      { to: R[0].address, amountSats: 30_000 },
      { to: R[1].address, amountSats: 45_000 },
      { to: R[2].address, amountSats: 60_000 },
    ])
    assert.equal(r.to, R[0].address)
    assert.equal(r.amountSats, 135_000)
    assert.deepEqual([r.memo, r.externalId], ['March payroll', 'payroll-2026-03'])
    const outs = paysOf(r)
    assert.deepEqual(outs.slice(0, 3), [
      [Buffer.from(R[0].scriptPubKey).toString('hex'), 30_000],
      [Buffer.from(R[1].scriptPubKey).toString('hex'), 45_000],
      [Buffer.from(R[2].scriptPubKey).toString('hex'), 60_000],
    ])
    assert.equal(outs.length, 4)
    assert.equal(r.outputs[3].change, true)
    const inSum = r.inputs.reduce((n, i) => n + i.value, 0)
    assert.equal(inSum, 135_000 + r.outputs[3].value + r.feeSats, 'the inputs pay the payments, the change and the fee')
    assert.deepEqual(checkProposal(r, voterContext()), { approve: true, reason: null })

    // What votes sign covers every recipient, the memo and the external id.
    for (const tampered of [
      { ...r, recipients: [r.recipients![0], { ...r.recipients![1], amountSats: 45_001 }, r.recipients![2]] },
      { ...r, memo: 'another memo' },
      { ...r, externalId: 'payroll-2026-04' },
    ]) {
      assert.notEqual(proposalHash(tampered), r.proposalHash)
      assert.deepEqual(checkProposal(tampered, voterContext()), { approve: false, reason: 'proposal hash does not match its contents' })
    }
  })

  it('voters refuse a batch whose recipients and outputs disagree, or whose payments do not add up, even when its hash is recomputed', async () => {
    const svc = service()
    await svc.create(
      {
        recipients: [
          { to: R[0].address, amountSats: 30_000 },
          { to: R[1].address, amountSats: 45_000 },
        ],
        feeRate: 2,
        type: 'taproot',
      } as SendRequest,
      KEY,
    )
    const r = onlyRecord()
    const rehash = (t: TxRecord): TxRecord => ({ ...t, proposalHash: proposalHash(t) })
    const cases: [TxRecord, RegExp][] = [
      [rehash({ ...r, recipients: [r.recipients![0], { to: R[1].address, amountSats: 44_000 }], amountSats: 74_000 }), /output 1 does not pay recipient 2 its amount/],
      [rehash({ ...r, recipients: [r.recipients![0], { to: R[2].address, amountSats: 45_000 }] }), /output 1 does not pay recipient 2 its amount/],
      [rehash({ ...r, amountSats: 70_000 }), /payments add up to 75000 sats, not the proposal's 70000/],
      [rehash({ ...r, recipients: [r.recipients![1], r.recipients![0]], to: R[1].address }), /output 0 does not pay recipient 1 its amount/],
      [rehash({ ...r, recipients: [r.recipients![0]] }), /a batch has 2\.\.200 recipients/],
      [rehash({ ...r, to: R[2].address }), /the first recipient is not the destination/],
      [rehash({ ...r, recipients: [r.recipients![0], { to: own([9, 7]).address, amountSats: 45_000 }] }), /recipient 2: destination is on the deny list/],
    ]
    for (const [t, why] of cases) {
      const v = checkProposal(t, voterContext())
      assert.equal(v.approve, false, String(why))
      assert.match(v.reason ?? '', why)
    }
  })

  it('a plain send hashes as before batches existed: no recipients, memo or external id in its proposal', async () => {
    const svc = service()
    await svc.create(BODY, KEY)
    const r = onlyRecord()
    assert.equal('recipients' in r || 'memo' in r || 'externalId' in r, false)
    const before = createHash('sha256')
      .update(canonicalJson({ id: r.id, keyId: r.keyId, type: r.type, to: r.to, amountSats: r.amountSats, unsignedTx: r.unsignedTx, inputs: r.inputs, outputs: r.outputs }))
      .digest('hex')
    assert.equal(r.proposalHash, before)
    assert.equal((etcd.value(idemKey) as { bodyHash: string }).bodyHash, bodyHash(BODY))
  })

  it('a batch naming an address twice is DUPLICATE_RECIPIENT; a refused recipient is named; nothing is written', async () => {
    const svc = service()
    await assert.rejects(
      svc.create(
        {
          recipients: [
            { to: R[0].address, amountSats: 30_000 },
            { to: R[1].address, amountSats: 1_000 },
            { to: R[0].address.toUpperCase(), amountSats: 5_000 },
          ],
          type: 'taproot',
        } as SendRequest,
        KEY,
      ),
      (e: { code?: string; httpStatus?: number; message?: string }) => e.code === 'DUPLICATE_RECIPIENT' && e.httpStatus === 400 && /recipients 1 and 3/.test(e.message ?? ''),
    )
    await assert.rejects(
      svc.quote({
        recipients: [
          { to: R[0].address, amountSats: 30_000 },
          { to: own([9, 7]).address, amountSats: 1_000 },
        ],
        type: 'taproot',
      } as SendRequest),
      (e: { code?: string; message?: string }) => e.code === 'POLICY_VIOLATION' && /^recipient 2: /.test(e.message ?? ''),
    )
    await assert.rejects(
      svc.quote({
        recipients: [
          { to: R[0].address, amountSats: 30_000 },
          { to: R[1].address, amountSats: 0 },
        ],
        type: 'taproot',
      } as SendRequest),
      (e: { code?: string; message?: string }) => e.code === 'INVALID_AMOUNT' && /^recipient 2: /.test(e.message ?? ''),
    )
    assert.deepEqual(etcd.keys('/'), [])
  })

  it('"max" spends every coin to one output with no change, the fee out of it; voters approve', async () => {
    const svc = service()
    const quote = await svc.quote({ to: DEST.address, amountSats: 'max', feeRate: 3, type: 'taproot' })
    await svc.create({ to: DEST.address, amountSats: 'max', feeRate: 3, type: 'taproot' }, KEY)
    const r = onlyRecord()
    const vsize = estimateVsize(['taproot', 'taproot', 'taproot'], [DEST.scriptPubKey])
    assert.equal(r.inputs.length, 3)
    assert.equal(r.feeSats, Math.ceil(3 * vsize))
    assert.equal(r.amountSats, 300_000 - r.feeSats)
    assert.deepEqual(paysOf(r), [[scriptOf(DEST.address), 300_000 - r.feeSats]])
    assert.deepEqual([quote.amountSats, quote.feeSats, quote.changeSats], [r.amountSats, r.feeSats, 0])
    assert.deepEqual(checkProposal(r, voterContext()), { approve: true, reason: null })
    assert.equal(etcd.keys('/tw/utxo-locks/').length, 3)
    // Nothing left to send.
    await assert.rejects(svc.quote({ to: DEST.address, amountSats: 'max', feeRate: 3, type: 'taproot' }), (e: { code?: string }) => e.code === 'INSUFFICIENT_FUNDS')
  })

  it('subtractFeeFromAmount: a coin sent whole pays its value less the fee (no second coin needed); in a batch the recipients share the fee and the wallet pays exactly the amounts', async () => {
    const svc = service()
    await svc.create({ to: DEST.address, amountSats: 100_000, feeRate: 2, type: 'taproot', subtractFeeFromAmount: true }, KEY)
    const one = onlyRecord()
    assert.equal(one.inputs.length, 1, 'the payment is the coin: no second input for the fee')
    assert.deepEqual(paysOf(one), [[scriptOf(DEST.address), 100_000 - one.feeSats]])
    assert.equal(one.feeSats, Math.ceil(2 * estimateVsize(['taproot'], [DEST.scriptPubKey])))
    assert.deepEqual(checkProposal(one, voterContext()), { approve: true, reason: null })

    etcd = new FakeEtcd()
    const svc2 = service()
    await svc2.create(
      {
        recipients: [
          { to: R[0].address, amountSats: 30_000 },
          { to: R[1].address, amountSats: 45_000 },
          { to: R[2].address, amountSats: 20_000 },
        ],
        feeRate: 2,
        type: 'taproot',
        subtractFeeFromAmount: true,
      } as SendRequest,
      'client-key-2',
    )
    const batch = onlyRecord()
    const fee = batch.feeSats
    const share = Math.floor(fee / 3)
    const extra = fee % 3
    assert.deepEqual(
      batch.recipients!.map((x) => x.amountSats),
      [30_000 - share - (extra > 0 ? 1 : 0), 45_000 - share - (extra > 1 ? 1 : 0), 20_000 - share],
    )
    const change = batch.outputs.find((o) => o.change)!
    assert.equal(batch.inputs.reduce((n, i) => n + i.value, 0) - change.value, 95_000, 'the wallet pays exactly the amounts asked')
    assert.deepEqual(checkProposal(batch, voterContext()), { approve: true, reason: null })
  })

  /** The proposer's ReplaceService over the same etcd; the chain says the original is in the mempool (or confirmed). */
  function replacer(confirmed = false): ReplaceService {
    const wallet = {
      keyById: async () => ({ keyId: 'k1', type: 'taproot' }),
      chain: () => ({ tipHeight: async () => 201, txStatus: async () => ({ found: true, confirmed, blockHeight: confirmed ? 201 : null }) }),
      derive: (_k: unknown, path: number[]) => own(path),
    }
    const store = {
      get: (id: string) => etcd.get<TxRecord>(WalletKeys.tx(id)),
      mirror: async () => undefined,
      toDto: async (r: TxRecord) => ({ id: r.id, state: r.state }) as never,
    }
    return new ReplaceService(config, etcd as never, wallet as never, store as never, { record: async () => undefined } as never, { sign: () => 'signed-by-the-proposer' } as never)
  }
  /** One send, as broadcast (its txid is the unsigned transaction's: witnesses are not part of it). */
  async function broadcastOne(): Promise<TxRecord> {
    await service().create(BODY, null)
    const r = onlyRecord()
    const sent: TxRecord = { ...r, state: 'broadcast', txid: transactionId(r.unsignedTx) }
    await etcd.put(WalletKeys.tx(r.id), sent)
    return sent
  }
  const replacementOf = (x: TxRecord) =>
    txIds()
      .map((id) => etcd.value(WalletKeys.tx(id)) as TxRecord)
      .find((r) => r.replacement?.of === x.id)!
  const approvedOriginal = (x: TxRecord): PolicyContext => ({ ...voterContext(), replaced: [proposalBody(x)] })
  const lockOwners = () => etcd.keys('/tw/utxo-locks/').map((k) => (etcd.value(k) as { txId: string }).txId)

  it('a fee bump: the same inputs and payments at a higher rate, the extra fee out of the change, the coins still reserved for the original; voters who approved the original approve it', async () => {
    const x = await broadcastOne()
    await replacer().replace(x.id, 'bump', { feeRate: 6 })
    const r = replacementOf(x)
    assert.deepEqual(r.replacement, { of: x.id, kind: 'bump' })
    assert.deepEqual(r.inputs, x.inputs)
    assert.deepEqual(paysOf(r)[0], paysOf(x)[0], 'the payment is untouched')
    const change = (t: TxRecord) => t.outputs.find((o) => o.change)!
    assert.deepEqual(change(r).path, change(x).path, 'the same change address')
    assert.equal(change(r).value, change(x).value - (r.feeSats - x.feeSats))
    assert.equal(r.feeSats, Math.ceil(6 * r.vsize))
    assert.ok(r.feeSats >= x.feeSats + r.vsize, 'BIP125: the old fee plus its own relay fee')
    assert.deepEqual(lockOwners(), [x.id], 'the reservations stay with the original until the bump confirms')
    assert.deepEqual(checkProposal(r, approvedOriginal(x)), { approve: true, reason: null })
    // It adds nothing to the day's total: the payment counts once.
    assert.deepEqual(checkProposal(r, { ...approvedOriginal(x), spentToday: config.policy.dailyLimitSats - 1 }), { approve: true, reason: null })
    // The checks every node makes alike (no ledger) pass too: approvers are not minority attackers.
    assert.deepEqual(checkProposal(r, { ...voterContext(), lockOf: () => r.id }), { approve: true, reason: null })
  })

  it('voters refuse a replacement of a transaction they did not approve, one that pays otherwise, and one that does not pay the BIP125 fees', async () => {
    const x = await broadcastOne()
    await replacer().replace(x.id, 'bump', { feeRate: 6 })
    const r = replacementOf(x)
    assert.match(checkProposal(r, { ...voterContext(), replaced: [] }).reason ?? '', /which this node did not approve/)
    // The same coins, but half the payment back as change (hash recomputed, outputs rebuilt).
    const rebuilt = (outs: { value: number }[], patch: Partial<TxRecord>): TxRecord => {
      const outputs = r.outputs.map((o, i) => ({ ...o, value: outs[i].value }))
      const unsignedTx = buildUnsignedTransaction({
        inputs: r.inputs.map((i) => ({ ...i, scriptPubKey: Buffer.from(i.scriptPubKey, 'hex'), keyType: 'taproot' as const })),
        outputs: outputs.map((o) => ({ scriptPubKey: Buffer.from(o.scriptPubKey, 'hex'), value: o.value })),
        locktime: 201,
        rbf: true,
      })
      const t = { ...r, ...patch, outputs, unsignedTx }
      return { ...t, feeSats: t.inputs.reduce((n, i) => n + i.value, 0) - outputs.reduce((n, o) => n + o.value, 0), proposalHash: proposalHash(t) }
    }
    const halfPaid = rebuilt([{ value: 25_000 }, { value: r.outputs[1].value + 25_000 }], { amountSats: 25_000 })
    assert.match(checkProposal(halfPaid, approvedOriginal(x)).reason ?? '', /a fee bump pays exactly what transaction .* paid/)
    const cheap = rebuilt([{ value: 50_000 }, { value: x.outputs[1].value - 1 }], {})
    assert.match(checkProposal(cheap, approvedOriginal(x)).reason ?? '', /a replacement pays more than .* sat\/vB and at least \d+ sats/)
  })

  it('a cancellation pays every coin back to the change address at 1 sat/vB above the original rate by default; voters approve it', async () => {
    const x = await broadcastOne()
    await replacer().replace(x.id, 'cancel', {})
    const r = replacementOf(x)
    assert.deepEqual(r.replacement, { of: x.id, kind: 'cancel' })
    assert.equal(r.amountSats, 0)
    assert.equal(r.outputs.length, 1)
    const [back] = r.outputs
    assert.deepEqual([back.change, back.path, back.address], [true, x.outputs[1].path, x.outputs[1].address])
    assert.equal(back.value, 100_000 - r.feeSats)
    assert.ok(r.feeSats / r.vsize > x.feeSats / x.vsize && r.feeSats >= x.feeSats + r.vsize)
    assert.deepEqual(checkProposal(r, approvedOriginal(x)), { approve: true, reason: null })
    assert.deepEqual(lockOwners(), [x.id])
  })

  it('only a broadcast, unconfirmed transaction can be replaced, and only at a higher rate', async () => {
    const x = await broadcastOne()
    const code = (e: { code?: string; httpStatus?: number }) => `${e.code} ${e.httpStatus}`
    assert.equal(await replacer().replace(x.id, 'bump', { feeRate: 2 }).catch(code), 'FEE_RATE_OUT_OF_BOUNDS 400')
    assert.equal(await replacer(true).replace(x.id, 'bump', { feeRate: 6 }).catch(code), 'TX_NOT_REPLACEABLE 409')
    await etcd.put(WalletKeys.tx(x.id), { ...x, state: 'voting', txid: null })
    assert.equal(await replacer().replace(x.id, 'cancel', {}).catch(code), 'TX_NOT_REPLACEABLE 409')
    assert.equal(await replacer().replace('00000000-0000-4000-8000-00000000dead', 'bump', { feeRate: 6 }).catch(code), 'NOT_FOUND 404')
    assert.equal(txIds().length, 1, 'no replacement proposed')
  })

  const coin = (i: number) => ({ txid: String(i + 1).padStart(64, 'a'), vout: 0 })

  it('coin control: exactly the coins named are spent, the fee on top, change as needed; a reserved or unknown coin is COIN_NOT_SPENDABLE naming it', async () => {
    const svc = service()
    await svc.create({ ...BODY, amountSats: 150_000, inputs: [coin(2), coin(0)] }, KEY)
    const r = onlyRecord()
    assert.deepEqual(r.inputs.map((i) => [i.txid, i.vout]).sort(), [coin(0), coin(2)].map((c) => [c.txid, c.vout]).sort())
    assert.deepEqual(paysOf(r)[0], [scriptOf(DEST.address), 150_000])
    assert.equal(r.outputs[1].value, 200_000 - 150_000 - r.feeSats)
    assert.deepEqual(checkProposal(r, voterContext()), { approve: true, reason: null })
    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => 'accepted',
        (e: { code?: string; httpStatus?: number; message?: string }) => `${e.code} ${e.httpStatus} ${e.message}`,
      )
    assert.match(await refusal(svc.quote({ ...BODY, inputs: [coin(0)] })), new RegExp(`^COIN_NOT_SPENDABLE 422 ${coin(0).txid}:0 is reserved by transaction ${r.id}`))
    assert.match(
      await refusal(svc.quote({ ...BODY, inputs: [{ txid: 'f'.repeat(64), vout: 3 }] })),
      /^COIN_NOT_SPENDABLE 422 f{64}:3 is not a confirmed coin of the taproot wallet/,
    )
    assert.match(await refusal(svc.quote({ ...BODY, amountSats: 99_990, inputs: [coin(1)] })), /^INSUFFICIENT_FUNDS 422/)
  })

  it('a consolidation: every spendable coin (or those named) to one change output, nothing paid out; voters approve it and it adds nothing to the day', async () => {
    const svc = service()
    const body = { type: 'taproot', feeRate: 2, consolidate: true } as SendRequest
    const quote = await svc.quote(body)
    assert.deepEqual([quote.amountSats, quote.recipients, quote.outputs.length, quote.outputs[0].change], [0, [], 1, true])
    await svc.create(body, KEY)
    const r = onlyRecord()
    assert.equal(r.consolidation, true)
    assert.equal(r.inputs.length, 3)
    assert.equal(r.amountSats, 0)
    assert.deepEqual(
      r.outputs.map((o) => [o.change, o.path, o.value]),
      [[true, [1, 0], 300_000 - r.feeSats]],
    )
    assert.equal(r.feeSats, Math.ceil(2 * estimateVsize(['taproot', 'taproot', 'taproot'], [own([1, 0]).scriptPubKey])))
    assert.deepEqual(checkProposal(r, { ...voterContext(), spentToday: config.policy.dailyLimitSats }), { approve: true, reason: null })
    // A consolidation that pays someone is no consolidation.
    const paying = { ...r, amountSats: 1_000, proposalHash: '' }
    assert.match(checkProposal({ ...paying, proposalHash: proposalHash(paying) }, voterContext()).reason ?? '', /a consolidation pays nothing out/)
  })
})
