import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BitcoinError, estimateVsize, selectCoins, type SelectionRequest, type Utxo } from './index'

const code = (c: string) => (e: unknown) => e instanceof BitcoinError && e.code === c
const P2WPKH = (n: number) => Buffer.from('0014' + n.toString(16).padStart(2, '0').repeat(20), 'hex')
const P2TR = (n: number) => Buffer.from('5120' + n.toString(16).padStart(2, '0').repeat(32), 'hex')
const DEST = P2WPKH(0xaa)
const CHANGE = { scriptPubKey: P2WPKH(0xcc), keyType: 'segwit' as const, path: [1, 3] }

let n = 0
function utxo(value: number, keyType: 'segwit' | 'taproot' = 'segwit'): Utxo {
  n++
  return {
    txid: n.toString(16).padStart(64, '0'),
    vout: n % 3,
    value,
    scriptPubKey: keyType === 'segwit' ? P2WPKH(n % 256) : P2TR(n % 256),
    keyType,
    path: [0, n],
  }
}
function req(utxos: Utxo[], value: number, extra: Partial<SelectionRequest> = {}): SelectionRequest {
  return { utxos, outputs: [{ scriptPubKey: DEST, value }], feeRate: 2, change: CHANGE, ...extra }
}
function balanced(s: ReturnType<typeof selectCoins>) {
  const sumIn = s.inputs.reduce((a, u) => a + u.value, 0)
  const sumOut = s.outputs.reduce((a, o) => a + o.value, 0)
  assert.equal(sumIn - sumOut, s.fee)
  assert.equal(
    s.vsize,
    estimateVsize(
      s.inputs.map((u) => u.keyType),
      s.outputs.map((o) => o.scriptPubKey),
    ),
  )
}

describe('selectCoins', () => {
  it('branch and bound finds an exact match and makes no change', () => {
    // 1 P2WPKH in + 1 P2WPKH out at 2 sat/vB: 110 vB, 220 sats
    const exact = utxo(100_220)
    const s = selectCoins(req([utxo(500_000), exact, utxo(30_000)], 100_000))
    assert.equal(s.algorithm, 'bnb')
    assert.deepEqual(s.inputs, [exact])
    assert.equal(s.outputs.length, 1)
    assert.equal(s.fee, 220)
    balanced(s)
  })
  it('branch and bound combines inputs for a changeless match', () => {
    const a = utxo(50_136)
    const b = utxo(50_220)
    const s = selectCoins(req([utxo(400_000), a, b], 100_000, { longTermFeeRate: 1 }))
    assert.equal(s.algorithm, 'bnb')
    assert.deepEqual(new Set(s.inputs), new Set([a, b]))
    assert.equal(s.outputs.length, 1)
    balanced(s)
  })
  it('makes change to the change address, last, with its path', () => {
    const s = selectCoins(req([utxo(500_000)], 100_000))
    assert.equal(s.outputs.length, 2)
    assert.deepEqual(s.outputs[0], { scriptPubKey: DEST, value: 100_000, isChange: false })
    assert.equal(s.outputs[1].isChange, true)
    assert.deepEqual(s.outputs[1].path, [1, 3])
    assert.equal(s.fee, Math.ceil(2 * estimateVsize(['segwit'], [DEST, CHANGE.scriptPubKey])))
    assert.equal(s.outputs[1].value, 500_000 - 100_000 - s.fee)
    balanced(s)
  })
  it('drops change below dust to the fee', () => {
    // 220 sats of fee without change, plus 200 sats left over: change would be dust
    const s = selectCoins(req([utxo(100_420)], 100_000))
    assert.equal(s.outputs.length, 1)
    assert.equal(s.fee, 420)
    balanced(s)
  })
  it('spends no more inputs than needed', () => {
    const pool = [utxo(100_000), utxo(50_000), utxo(30_000), utxo(20_000)]
    const s = selectCoins(req(pool, 40_000, { feeRate: 20 }))
    assert.equal(s.inputs.length, 1)
    balanced(s)
    const t = selectCoins(req(pool, 40_000, { feeRate: 2, longTermFeeRate: 1 }))
    assert.equal(t.inputs.length, 1)
  })
  it('mixes segwit and taproot inputs and a taproot change output', () => {
    const s = selectCoins({
      ...req([utxo(60_000, 'taproot'), utxo(70_000)], 120_000),
      change: { scriptPubKey: P2TR(0xcd), keyType: 'taproot', path: [1, 0] },
    })
    assert.equal(s.inputs.length, 2)
    balanced(s)
  })
  it('INSUFFICIENT_FUNDS with available and needed', () => {
    assert.throws(
      () => selectCoins(req([utxo(30_000), utxo(20_000)], 100_000)),
      (e: unknown) => {
        assert.ok(e instanceof BitcoinError && e.code === 'INSUFFICIENT_FUNDS')
        assert.equal(e.details?.available, 50_000)
        assert.ok((e.details?.needed as number) > 100_000)
        return true
      },
    )
    // enough value, not enough for the fee
    assert.throws(() => selectCoins(req([utxo(100_100)], 100_000)), code('INSUFFICIENT_FUNDS'))
    assert.throws(() => selectCoins(req([], 1000)), code('INSUFFICIENT_FUNDS'))
  })
  it('fee rate bounds and the absolute fee cap', () => {
    const pool = [utxo(1_000_000)]
    assert.throws(() => selectCoins(req(pool, 1000, { feeRate: 0.5 })), code('FEE_RATE_OUT_OF_BOUNDS'))
    assert.throws(() => selectCoins(req(pool, 1000, { feeRate: 1001 })), code('FEE_RATE_OUT_OF_BOUNDS'))
    assert.throws(() => selectCoins(req(pool, 1000, { feeRate: 50, maxFeeRate: 40 })), code('FEE_RATE_OUT_OF_BOUNDS'))
    assert.throws(() => selectCoins(req(pool, 1000, { feeRate: Number.NaN })), code('FEE_RATE_OUT_OF_BOUNDS'))
    assert.throws(() => selectCoins(req(pool, 1000, { feeRate: 50, maxFeeSats: 5000 })), code('FEE_TOO_HIGH'))
    assert.ok(selectCoins(req(pool, 1000, { feeRate: 50, maxFeeSats: 10_000 })).fee <= 10_000)
  })
  it('DUST_OUTPUT and INVALID_AMOUNT for bad outputs', () => {
    const pool = [utxo(1_000_000)]
    assert.throws(() => selectCoins(req(pool, 293)), code('DUST_OUTPUT'))
    assert.equal(selectCoins(req(pool, 294)).outputs[0].value, 294)
    assert.throws(() => selectCoins({ ...req(pool, 1000), outputs: [{ scriptPubKey: P2TR(1), value: 329 }] }), code('DUST_OUTPUT'))
    assert.throws(() => selectCoins(req(pool, 1.5)), code('INVALID_AMOUNT'))
    assert.throws(() => selectCoins(req(pool, -1)), code('INVALID_AMOUNT'))
  })
  it('is deterministic for equal requests, and takes an injected rng', () => {
    const pool = Array.from({ length: 40 }, (_, i) => utxo(10_000 + i * 7_919))
    const a = selectCoins(req(pool, 123_456))
    const b = selectCoins(req([...pool].reverse(), 123_456))
    assert.deepEqual(a, b)
    let x = 1
    const rng = () => (x = (x * 48271) % 2147483647) / 2147483647
    balanced(selectCoins(req(pool, 123_456, { rng })))
  })
  it('ignores coins that cost more to spend than they are worth', () => {
    const s = selectCoins(req([utxo(100), utxo(200_000)], 100_000, { feeRate: 5 }))
    assert.equal(s.inputs.length, 1)
    assert.equal(s.inputs[0].value, 200_000)
  })
  it('on 300 random wallets: balanced, pays at least feeRate × vsize, change never dust', () => {
    let x = 12345
    const rnd = () => (x = (x * 48271) % 2147483647) / 2147483647
    let solved = 0
    for (let k = 0; k < 300; k++) {
      const pool = Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => utxo(1000 + Math.floor(rnd() * 2_000_000), rnd() < 0.5 ? 'segwit' : 'taproot'))
      const feeRate = 1 + Math.floor(rnd() * 100)
      try {
        const s = selectCoins(req(pool, 10_000 + Math.floor(rnd() * 3_000_000), { feeRate }))
        balanced(s)
        assert.ok(s.fee >= Math.ceil(feeRate * s.vsize))
        for (const o of s.outputs) if (o.isChange) assert.ok(o.value >= 294)
        assert.equal(new Set(s.inputs.map((u) => `${u.txid}:${u.vout}`)).size, s.inputs.length)
        solved++
      } catch (e) {
        assert.ok(e instanceof BitcoinError && ['INSUFFICIENT_FUNDS', 'FEE_TOO_HIGH'].includes(e.code), String(e))
      }
    }
    assert.ok(solved > 100, `only ${solved} solved`)
  })
})
