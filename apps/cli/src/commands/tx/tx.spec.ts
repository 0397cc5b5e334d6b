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

test("tx list --json is the node's TransactionListDto", async () => {
  const r = await runCommand(TxList, ['--node', node.url, '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  const list = JSON.parse(r.stdout) as TransactionListDto
  assert.deepEqual(
    list.transactions.map((t) => `${t.id}:${t.state}`),
    ['tx-1:broadcast', 'tx-2:rejected'],
  )
})

test('tx list --state/--type/--since/--external-id/--limit/--cursor go to the node as the query; --json prints the page with nextCursor', async () => {
  const none = await runCommand(TxList, ['--node', node.url, '--external-id', 'payout-7'])
  assert.match(none.stdout, /match/i, 'no transaction carries that external id')
  const r = await runCommand(TxList, ['--node', node.url, '--type', 'segwit', '--state', 'broadcast', '--since', '2025-01-01T00:00:00Z', '--limit', '1', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  const page = JSON.parse(r.stdout) as TransactionListDto
  assert.deepEqual(
    page.transactions.map((t) => t.id),
    ['tx-1'],
  )
  assert.equal(page.nextCursor, null)
  const asked = node.requests.filter((q) => q.method === 'GET' && q.url.startsWith('/api/v1/transactions?')).pop()
  assert.ok(asked)
  const params = new URL(asked.url, 'http://x').searchParams
  assert.deepEqual(Object.fromEntries(params), { state: 'broadcast', type: 'segwit', since: '2025-01-01T00:00:00Z', limit: '1' })
})

test('tx list pages: the table ends with the next cursor; --cursor gets the next page', async () => {
  const first = await runCommand(TxList, ['--node', node.url, '--limit', '1'])
  assert.equal(first.exitCode, 0, first.stderr)
  assert.match(first.stdout, /^tx-1\s/m)
  const m = /More: threshold-wallet tx list --cursor (\S+) \(same filters\)/.exec(first.stdout)
  assert.ok(m, first.stdout)
  const second = JSON.parse((await runCommand(TxList, ['--node', node.url, '--limit', '1', '--cursor', m[1], '--json'])).stdout) as TransactionListDto
  assert.deepEqual(
    second.transactions.map((t) => t.id),
    ['tx-2'],
  )
  assert.equal(second.nextCursor, null)
})

test('tx list: nothing matching, a bad --since, a bad cursor', async () => {
  const none = await runCommand(TxList, ['--node', node.url, '--state', 'expired'])
  assert.equal(none.exitCode, 0, none.stderr)
  assert.match(none.stdout, /No transactions match\./)
  const since = await runCommand(TxList, ['--node', node.url, '--since', 'yesterday'])
  assert.notEqual(since.exitCode, 0)
  assert.match(since.stderr, /--since yesterday is not an ISO 8601 time/)
  const bad = await runCommand(TxList, ['--node', node.url, '--cursor', 'bogus'])
  assert.notEqual(bad.exitCode, 0)
  assert.match(bad.stderr, /VALIDATION_FAILED|cursor/)
  assert.notEqual((await runCommand(TxList, ['--node', node.url, '--limit', '0'])).exitCode, 0)
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

test("tx show of an unknown id is the node's NOT_FOUND; without an id it is a usage error", async () => {
  const r = await runCommand(TxShow, ['--node', node.url, 'nope', '--json'])
  assert.equal(r.exitCode, 1)
  assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'NOT_FOUND')
  assert.equal((await runCommand(TxShow, ['--node', node.url])).exitCode, 2)
})
