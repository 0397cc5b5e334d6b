import assert from 'node:assert/strict'
import { after, before, beforeEach, test } from 'node:test'
import { FakeWalletNode, makeTx } from '../../testing/fake-wallet-node'
import { runCommand } from '../../testing/run-command'
import type { ReplaceResult } from '../../shared/replace-command'
import TxBump from './bump'
import TxCancel from './cancel'
import TxShow from './show'

type ErrorJson = { error: { code: string; message: string } }
const node = new FakeWalletNode()
const FAST = ['--poll-interval', '10']
const seed = () => {
  node.txs.set('tx-sent', { tx: makeTx({ id: 'tx-sent', state: 'broadcast', txid: 'ee'.repeat(32), feeRate: 1, feeSats: 141 }), step: 0 })
  node.txs.set('tx-voting', { tx: makeTx({ id: 'tx-voting', state: 'voting' }), step: 0 })
}

before(async () => void (await node.start()))
after(() => node.close())
beforeEach(() => {
  node.reset()
  seed()
})

test('tx bump <id> --fee-rate posts the rate, follows the replacement to broadcast and prints what it replaces', async () => {
  const r = await runCommand(TxBump, ['tx-sent', '--fee-rate', '5', '--node', node.url, ...FAST])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(node.calls('POST', '/api/v1/transactions/tx-sent/bump')[0]?.body, { feeRate: 5 })
  assert.match(r.stderr, /Proposing a fee bump of transaction tx-sent/)
  assert.match(r.stderr, /Following replacement tx-\d+\.\.\. broadcast/)
  assert.match(r.stdout, /^Fee bump:\s+tx-\d+$/m)
  assert.match(r.stdout, /^Replaces:\s+tx-sent$/m)
  assert.match(r.stdout, /^Fee:\s+705 sats \(5 sat\/vB\)$/m)
  assert.match(r.stdout, /^Pays:\s+50000 sats, as before$/m)
})

test('tx cancel <id> --json: the replacement pays everything back to the wallet; the rate is optional', async () => {
  const r = await runCommand(TxCancel, ['tx-sent', '--node', node.url, '--json', ...FAST])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(node.calls('POST', '/api/v1/transactions/tx-sent/cancel')[0]?.body, {})
  const out = JSON.parse(r.stdout) as ReplaceResult
  assert.equal(out.replaces, 'tx-sent')
  assert.deepEqual(out.transaction.replacement, { of: 'tx-sent', kind: 'cancel' })
  assert.equal(out.transaction.amountSats, 0)
  assert.deepEqual(
    out.transaction.outputs.map((o) => o.change),
    [true],
  )
  assert.equal(out.states.at(-1), 'broadcast')
})

test("refusals keep the node's code: not broadcast is TX_NOT_REPLACEABLE, a rate not above is FEE_RATE_OUT_OF_BOUNDS (exit 1); a bad --fee-rate is a usage error (exit 2)", async () => {
  const voting = await runCommand(TxCancel, ['tx-voting', '--node', node.url, '--json'])
  assert.equal(voting.exitCode, 1)
  assert.equal((JSON.parse(voting.stdout) as ErrorJson).error.code, 'TX_NOT_REPLACEABLE')
  const low = await runCommand(TxBump, ['tx-sent', '--fee-rate', '1', '--node', node.url, '--json'])
  assert.equal(low.exitCode, 1)
  assert.equal((JSON.parse(low.stdout) as ErrorJson).error.code, 'FEE_RATE_OUT_OF_BOUNDS')
  const bad = await runCommand(TxBump, ['tx-sent', '--fee-rate', 'fast', '--node', node.url, '--json'])
  assert.equal(bad.exitCode, 2)
  const missing = await runCommand(TxBump, ['tx-sent', '--node', node.url, '--json'])
  assert.equal(missing.exitCode, 2, 'bump needs --fee-rate')
})

test('tx show names what a replacement replaces, and the replacement of a replaced send', async () => {
  const r = await runCommand(TxBump, ['tx-sent', '--fee-rate', '5', '--node', node.url, '--no-wait', '--json'])
  const bump = (JSON.parse(r.stdout) as ReplaceResult).transaction
  const shown = await runCommand(TxShow, [bump.id, '--node', node.url])
  assert.match(shown.stdout, /^Replaces:\s+tx-sent \(fee bump\)$/m)
  node.txs.set('tx-old', {
    tx: makeTx({ id: 'tx-old', state: 'failed', error: { code: 'REPLACED', message: `replaced by transaction ${bump.id}` }, replacedBy: bump.id }),
    step: 0,
  })
  const old = await runCommand(TxShow, ['tx-old', '--node', node.url])
  assert.match(old.stdout, new RegExp(`^Replaced by:\\s+${bump.id}$`, 'm'))
})
