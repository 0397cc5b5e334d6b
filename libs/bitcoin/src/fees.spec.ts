import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BitcoinError, dustThreshold, estimateVsize, INPUT_VBYTES, outputVbytes, parseAmountSats } from './index'

const code = (c: string) => (e: unknown) => e instanceof BitcoinError && e.code === c
const script = (h: string) => Buffer.from(h, 'hex')
const P2WPKH = script('0014' + '11'.repeat(20))
const P2TR = script('5120' + '22'.repeat(32))
const P2WSH = script('0020' + '33'.repeat(32))
const P2PKH = script('76a914' + '44'.repeat(20) + '88ac')
const P2SH = script('a914' + '55'.repeat(20) + '87')

describe('parseAmountSats', () => {
  it('accepts whole positive satoshis as numbers or decimal strings', () => {
    assert.equal(parseAmountSats(1), 1)
    assert.equal(parseAmountSats('100000'), 100000)
    assert.equal(parseAmountSats(2_100_000_000_000_000), 2_100_000_000_000_000)
    assert.equal(parseAmountSats('2100000000000000'), 2_100_000_000_000_000)
  })
  it('rejects everything else with INVALID_AMOUNT', () => {
    for (const bad of [
      0,
      -1,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      2_100_000_000_000_001,
      '0',
      '-5',
      '1.5',
      '1e3',
      ' 5',
      '5 ',
      '',
      '0x10',
      '2100000000000001',
      '99999999999999999999',
      null,
      undefined,
      {},
      [],
      true,
    ]) {
      assert.throws(() => parseAmountSats(bad), code('INVALID_AMOUNT'), String(bad))
    }
  })
})

describe('sizes and dust', () => {
  it('input and output sizes', () => {
    assert.deepEqual(INPUT_VBYTES, { segwit: 68, taproot: 57.5 })
    assert.equal(outputVbytes(P2WPKH), 31)
    assert.equal(outputVbytes(P2TR), 43)
    assert.equal(outputVbytes(P2PKH), 34)
  })
  it('estimateVsize: 1 P2WPKH in, 2 P2WPKH out is the textbook 140.5 → 141 vB; 1 P2TR in, 1 P2TR out 111 vB', () => {
    assert.equal(estimateVsize(['segwit'], [P2WPKH, P2WPKH]), 141)
    assert.equal(estimateVsize(['taproot'], [P2TR]), 111)
  })
  it('dust thresholds match Bitcoin Core at 3 sat/vB', () => {
    assert.equal(dustThreshold(P2WPKH), 294)
    assert.equal(dustThreshold(P2TR), 330)
    assert.equal(dustThreshold(P2WSH), 330)
    assert.equal(dustThreshold(P2PKH), 546)
    assert.equal(dustThreshold(P2SH), 540)
    assert.equal(dustThreshold(script('6a0401020304')), 0)
    assert.equal(dustThreshold(P2WPKH, 1), 98)
  })
})
