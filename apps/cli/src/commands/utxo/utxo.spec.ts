import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { UtxoListDto } from '@tw/api'
import { FakeWalletNode, UTXOS } from '../../testing/fake-wallet-node'
import { runCommand } from '../../testing/run-command'
import UtxoList from './list'

const node = new FakeWalletNode()
before(async () => void (await node.start()))
after(() => node.close())

test("utxo list --json is the node's UtxoListDto", async () => {
  const r = await runCommand(UtxoList, ['--node', node.url, '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout) as UtxoListDto, UTXOS)
})

test('utxo list prints one row per coin with its status and reservation, then the totals', async () => {
  const r = await runCommand(UtxoList, ['--node', node.url])
  assert.equal(r.exitCode, 0, r.stderr)
  const lines = r.stdout.split('\n')
  assert.match(lines[0], /^OUTPOINT\s+TYPE\s+VALUE \(sat\)\s+STATUS\s+CONF\s+RESERVED BY\s+PATH\s+PRESIGNED\s+ADDRESS$/)
  assert.match(lines[2], new RegExp(`^${'c1'.repeat(32)}:0\\s+segwit\\s+100000000\\s+spendable\\s+12\\s+-\\s+m/0/0\\s+yes\\s+bcrt1qfirst$`))
  assert.match(lines[3], new RegExp(`^${'c2'.repeat(32)}:1\\s+segwit\\s+5000\\s+reserved\\s+3\\s+tx-9\\s+m/0/1\\s+no\\s+bcrt1qsecond$`))
  assert.match(lines[4], new RegExp(`^${'c3'.repeat(32)}:2\\s+taproot\\s+20000\\s+unconfirmed\\s+0\\s+-\\s+m/1/0\\s+-\\s+bcrt1pthird$`))
  assert.match(r.stdout, /^Reserved:\s+5000 sats$/m)
})

test('utxo list --type and --status go to the node as filters; nothing matching says so', async () => {
  const r = await runCommand(UtxoList, ['--node', node.url, '--type', 'taproot', '--status', 'spendable'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.equal(node.calls('GET', '/api/v1/wallet/utxos').pop()?.url, '/api/v1/wallet/utxos?type=taproot&status=spendable')
  assert.match(r.stdout, /^No coins match\.$/m)
  const bad = await runCommand(UtxoList, ['--node', node.url, '--status', 'frozen', '--json'])
  assert.equal(bad.exitCode, 2)
  assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'INVALID_FLAGS')
})
