import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { TransactionDto, TransactionListDto } from '@tw/api'
import { FakeWalletNode } from '../../testing/fake-wallet-node'
import { runCommand } from '../../testing/run-command'
import Send from '../send'
import TxList from './list'
import TxShow from './show'

const node = new FakeWalletNode()
before(async () => {
  await node.start()
  // Two transactions: one broadcast, one rejected.
  await runCommand(Send, ['--node', node.url, '--to', 'bcrt1qdest', '--amount', '50000', '--poll-interval', '10', '--json'])
  node.script = ['pending', 'voting', 'rejected']
  await runCommand(Send, ['--node', node.url, '--to', 'bcrt1qother', '--amount', '7000', '--type', 'taproot', '--poll-interval', '10', '--json'])
})
after(() => node.close())

test('tx list --json is the node\'s TransactionListDto', async () => {
  const r = await runCommand(TxList, ['--node', node.url, '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  const list = JSON.parse(r.stdout) as TransactionListDto
  assert.deepEqual(list.transactions.map((t) => `${t.id}:${t.state}`), ['tx-1:broadcast', 'tx-2:rejected'])
})

test('tx list prints id, state, type, amount, fee, txid, created', async () => {
  const r = await runCommand(TxList, ['--node', node.url])
  const lines = r.stdout.trim().split('\n')
  assert.match(lines[0], /^ID\s+STATE\s+TYPE\s+AMOUNT \(sat\)\s+FEE \(sat\)\s+TXID\s+CREATED$/)
  assert.match(lines[2], new RegExp(`^tx-1\\s+broadcast\\s+segwit\\s+50000\\s+282\\s+${'bb'.repeat(32)}\\s+2025-`))
  assert.match(lines[3], /^tx-2\s+rejected\s+taproot\s+7000\s+282\s+-\s+2025-/)
})

test('tx show: pairs, inputs, outputs, votes, history', async () => {
  const r = await runCommand(TxShow, ['--node', node.url, 'tx-2'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.match(r.stdout, /^Transaction:\s+tx-2$/m)
  assert.match(r.stdout, /^State:\s+rejected \(POLICY_VIOLATION: 3 of 5 nodes rejected: amount over limit\)$/m)
  assert.match(r.stdout, new RegExp(`^${'aa'.repeat(32)}:1\\s+100000\\s+m/0/3$`, 'm'))
  assert.match(r.stdout, /^1\s+bcrt1qchange\s+49718\s+yes$/m)
  assert.match(r.stdout, /^2\s+reject\s+valid\s+amount over limit/m)
  assert.match(r.stdout, /History:\n.*pending\n.*voting\n.*rejected/)
  const j = await runCommand(TxShow, ['--node', node.url, 'tx-1', '--json'])
  assert.equal((JSON.parse(j.stdout) as TransactionDto).txid, 'bb'.repeat(32))
})

test('tx show of an unknown id is the node\'s NOT_FOUND; without an id it is a usage error', async () => {
  const r = await runCommand(TxShow, ['--node', node.url, 'nope', '--json'])
  assert.equal(r.exitCode, 1)
  assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'NOT_FOUND')
  assert.equal((await runCommand(TxShow, ['--node', node.url])).exitCode, 2)
})
