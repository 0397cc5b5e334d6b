import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { AbandonDto } from '@tw/api'
import { FakeWalletNode, makeTx } from '../../testing/fake-wallet-node'
import { runCommand } from '../../testing/run-command'
import TxAbandon, { parseReason } from './abandon'

const TXID = 'ee'.repeat(32)
const REASON = 'refused as mandatory-script-verify-flag-failed; checked with the signers'
const node = new FakeWalletNode()
const failed = (id: string) =>
  node.txs.set(id, {
    tx: makeTx({
      id,
      state: 'failed',
      txid: TXID,
      hex: '02000000',
      error: { code: 'CHAIN_REJECTED', message: 'mandatory-script-verify-flag-failed (its coins stay reserved)' },
    }),
    step: 0,
  })

before(async () => {
  await node.start()
  failed('tx-failed')
  failed('tx-failed-2')
  failed('tx-on-chain')
  node.onChain.add('tx-on-chain')
  node.txs.set('tx-broadcast', { tx: makeTx({ id: 'tx-broadcast', state: 'broadcast', txid: TXID }), step: 0 })
})
after(() => node.close())

test('tx abandon <id> --reason posts the reason, prints the released outpoints and the warning; a second time is TX_NOT_ABANDONABLE (exit 1)', async () => {
  const r = await runCommand(TxAbandon, ['--node', node.url, 'tx-failed', '--reason', REASON])
  assert.equal(r.exitCode, 0, r.stderr)
  const sent = node.calls('POST', '/api/v1/transactions/tx-failed/abandon').pop()
  assert.deepEqual(sent?.body, { reason: REASON })
  assert.match(r.stderr, /Asking the chain and releasing the coins of transaction tx-failed/)
  assert.match(r.stdout, new RegExp(`^Released 1 coin reservation\\(s\\) of transaction tx-failed \\(txid ${TXID}\\) at 2025-02-03T04:05:06.000Z \\(audited\\):$`, 'm'))
  assert.match(r.stdout, new RegExp(`^  ${'aa'.repeat(32)}:1$`, 'm'))
  assert.match(r.stdout, /^Warning: Transaction e+ stays valid while its inputs are unspent: whoever holds a signed copy can broadcast it later\..*pay them twice\.$/m)
  const again = await runCommand(TxAbandon, ['--node', node.url, 'tx-failed', '--reason', REASON])
  assert.equal(again.exitCode, 1)
  assert.match(again.stderr, /^Error \(TX_NOT_ABANDONABLE\): transaction tx-failed holds no coin reservations \(already released\).*\(HTTP 409\)$/m)
})

test('--json prints the AbandonDto; a refusal prints {error:{code,message,details}} with exit 1', async () => {
  const j = await runCommand(TxAbandon, ['--node', node.url, 'tx-failed-2', '--reason', REASON, '--json'])
  assert.equal(j.exitCode, 0, j.stderr)
  const dto = JSON.parse(j.stdout) as AbandonDto
  assert.deepEqual(Object.keys(dto).sort(), ['abandonedAt', 'id', 'released', 'txid', 'warning'])
  assert.equal(dto.id, 'tx-failed-2')
  assert.deepEqual(dto.released, [`${'aa'.repeat(32)}:1`])
  assert.match(dto.warning, /stays valid while its inputs are unspent/)
  const e = await runCommand(TxAbandon, ['--node', node.url, 'tx-broadcast', '--reason', REASON, '--json'])
  assert.equal(e.exitCode, 1)
  const err = (JSON.parse(e.stdout) as { error: { code: string; message: string } }).error
  assert.equal(err.code, 'TX_NOT_ABANDONABLE')
  assert.match(err.message, /is broadcast, not failed/)
})

test('the chain has it: TX_ON_CHAIN says nothing was released and not to pay again (exit 1); --json keeps the chain answers', async () => {
  const r = await runCommand(TxAbandon, ['--node', node.url, 'tx-on-chain', '--reason', REASON])
  assert.equal(r.exitCode, 1)
  assert.match(
    r.stderr,
    /^Error \(TX_ON_CHAIN\): the chain has transaction e+ in the mempool.*\(HTTP 409\)\. Nothing was released\. Look the txid up on the chain before paying the payee again\.$/m,
  )
  const j = await runCommand(TxAbandon, ['--node', node.url, 'tx-on-chain', '--reason', REASON, '--json'])
  const err = (JSON.parse(j.stdout) as { error: { code: string; details: { chain: { status: { found: boolean } } } } }).error
  assert.equal(err.code, 'TX_ON_CHAIN')
  assert.equal(err.details.chain.status.found, true)
})

test('no --reason, an empty or too long one: usage error (exit 2) that never reaches the node; an unknown id is NOT_FOUND', async () => {
  const before = node.calls('POST', '/api/v1/transactions/').length
  assert.equal((await runCommand(TxAbandon, ['--node', node.url, 'tx-failed'])).exitCode, 2)
  for (const bad of ['   ', 'x'.repeat(501)]) {
    const r = await runCommand(TxAbandon, ['--node', node.url, 'tx-failed', '--reason', bad, '--json'])
    assert.equal(r.exitCode, 2, r.stdout)
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'INVALID_REASON')
  }
  assert.equal(node.calls('POST', '/api/v1/transactions/').length, before)
  assert.equal(parseReason('  why  '), 'why')
  const missing = await runCommand(TxAbandon, ['--node', node.url, 'nope', '--reason', REASON, '--json'])
  assert.equal(missing.exitCode, 1)
  assert.equal((JSON.parse(missing.stdout) as { error: { code: string } }).error.code, 'NOT_FOUND')
})
