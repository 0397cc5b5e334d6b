import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatBtc, MAX_SATS, parseAmountSats, parseFeeRate } from './amounts'
import { CliError } from './errors'

test('parseAmountSats: positive whole satoshis up to 21M BTC', () => {
  assert.equal(parseAmountSats('1'), 1)
  assert.equal(parseAmountSats(' 50000 '), 50000)
  assert.equal(parseAmountSats(String(MAX_SATS)), MAX_SATS)
  for (const bad of ['0', '-5', '1.5', 'abc', '', '1e3', '0x10', String(MAX_SATS + 1)]) {
    assert.throws(
      () => parseAmountSats(bad),
      (e: CliError) => e.code === 'INVALID_AMOUNT' && e.exitCode === 2,
      bad,
    )
  }
})

test('parseFeeRate: a number > 0, decimals allowed', () => {
  assert.equal(parseFeeRate('1'), 1)
  assert.equal(parseFeeRate('2.5'), 2.5)
  assert.equal(parseFeeRate('.5'), 0.5)
  for (const bad of ['0', '0.0', '-1', 'abc', '', 'Infinity', '1e2']) {
    assert.throws(
      () => parseFeeRate(bad),
      (e: CliError) => e.code === 'INVALID_FEE_RATE' && e.exitCode === 2,
      bad,
    )
  }
})

test('formatBtc is exact', () => {
  assert.equal(formatBtc(0), '0.00000000')
  assert.equal(formatBtc(1), '0.00000001')
  assert.equal(formatBtc(123_456_789), '1.23456789')
  assert.equal(formatBtc(MAX_SATS), '21000000.00000000')
})
