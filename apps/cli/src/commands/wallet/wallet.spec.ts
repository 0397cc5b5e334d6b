import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { AddressDto, BalanceDto, DescriptorsDto } from '@tw/api'
import { BALANCE, DESCRIPTORS, FakeWalletNode } from '../../testing/fake-wallet-node'
import { runCommand } from '../../testing/run-command'
import WalletAddress from './address'
import WalletBalance from './balance'
import WalletDescriptors from './descriptors'

const node = new FakeWalletNode()
before(async () => void (await node.start()))
after(() => node.close())

test("wallet balance --json is the node's BalanceDto", async () => {
  const r = await runCommand(WalletBalance, ['--node', node.url, '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout) as BalanceDto, BALANCE)
})

test('wallet balance prints one row per wallet type and a total', async () => {
  const r = await runCommand(WalletBalance, ['--node', node.url])
  const lines = r.stdout.split('\n')
  assert.match(lines[0], /^TYPE\s+KEY\s+CONFIRMED \(sat\)\s+UNCONFIRMED \(sat\)\s+RESERVED \(sat\)\s+UTXOS$/)
  assert.match(lines[2], /^segwit\s+k-ecdsa\s+150000000\s+20000\s+5000\s+3$/)
  assert.match(lines[3], /^taproot\s+k-schnorr\s+50000000\s+0\s+0\s+1$/)
  assert.match(lines[4], /^TOTAL\s+-\s+200000000\s+20000\s+5000\s+4$/)
  assert.match(r.stdout, /^Confirmed:\s+200000000 sats \(2\.00000000 BTC\)$/m)
  assert.match(r.stdout, /^Tip height:\s+150$/m)
})

test('wallet address: --type and --change go to the node; the address is printed', async () => {
  const r = await runCommand(WalletAddress, ['--node', node.url, '--type', 'taproot', '--change', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  const a = JSON.parse(r.stdout) as AddressDto
  assert.equal(a.type, 'taproot')
  assert.equal(a.change, true)
  assert.deepEqual(node.calls('POST', '/api/v1/wallet/address').pop()?.body, { type: 'taproot', change: true })
  const h = await runCommand(WalletAddress, ['--node', node.url])
  assert.match(h.stdout, /^Address:\s+bcrt1qfake\d+$/m)
  assert.match(h.stdout, /^Type:\s+segwit$/m)
  assert.deepEqual(node.calls('POST', '/api/v1/wallet/address').pop()?.body, { type: 'segwit', change: false })
})

test('wallet address --type legacy is INVALID_FLAGS, exit 2', async () => {
  const r = await runCommand(WalletAddress, ['--node', node.url, '--type', 'legacy', '--json'])
  assert.equal(r.exitCode, 2)
  assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'INVALID_FLAGS')
})

test('wallet descriptors --json and text', async () => {
  const j = await runCommand(WalletDescriptors, ['--node', node.url, '--json'])
  assert.deepEqual(JSON.parse(j.stdout) as DescriptorsDto, DESCRIPTORS)
  const t = await runCommand(WalletDescriptors, ['--node', node.url])
  assert.match(t.stdout, /^Receive:\s+wpkh\(tpubA\/0\/\*\)#abcd1234$/m)
  assert.match(t.stdout, /^Change:\s+tr\(tpubB\/1\/\*\)#mnop3456$/m)
  assert.match(t.stdout, /^Type:\s+taproot \(regtest\)$/m)
})
