import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { AddressDto, AddressListDto, BalanceDto, DepositListDto, DescriptorsDto } from '@tw/api'
import { ADDRESSES, BALANCE, DEPOSITS, DESCRIPTORS, FakeWalletNode } from '../../testing/fake-wallet-node'
import { runCommand } from '../../testing/run-command'
import WalletAddress from './address'
import WalletAddresses from './addresses'
import WalletBalance from './balance'
import WalletDeposits from './deposits'
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

test("wallet deposits --json is the node's DepositListDto; the table says where each came from", async () => {
  const j = await runCommand(WalletDeposits, ['--node', node.url, '--json'])
  assert.equal(j.exitCode, 0, j.stderr)
  assert.deepEqual(JSON.parse(j.stdout) as DepositListDto, DEPOSITS)
  const t = await runCommand(WalletDeposits, ['--node', node.url])
  const lines = t.stdout.split('\n')
  assert.match(lines[0], /^TXID:VOUT\s+TYPE\s+VALUE \(sat\)\s+CONF\s+BLOCK TIME\s+FROM\s+PATH\s+ADDRESS$/)
  assert.match(lines[2], new RegExp(`^${'d1'.repeat(32)}:1\\s+taproot\\s+20000\\s+0\\s+-\\s+wallet\\s+m/0/2\\s+bcrt1pdeposit$`))
  assert.match(lines[3], new RegExp(`^${'d2'.repeat(32)}:0\\s+segwit\\s+200000\\s+12\\s+2025-01-01T00:00:00.000Z\\s+outside\\s+m/0/0\\s+bcrt1qdeposit$`))
})

test('wallet deposits --type and --limit go to the node; a full page says there may be more', async () => {
  const r = await runCommand(WalletDeposits, ['--node', node.url, '--type', 'segwit', '--limit', '1'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.equal(node.calls('GET', '/api/v1/wallet/deposits').pop()?.url, '/api/v1/wallet/deposits?type=segwit&limit=1')
  assert.match(r.stdout, /Only the newest 1 are shown; raise --limit for more\./)
  const bad = await runCommand(WalletDeposits, ['--node', node.url, '--limit', '0', '--json'])
  assert.equal(bad.exitCode, 2)
})

test('wallet address --label sends the label and prints it; a blank or over-long label is INVALID_LABEL, nothing sent', async () => {
  const r = await runCommand(WalletAddress, ['--node', node.url, '--label', 'invoice 42'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(node.calls('POST', '/api/v1/wallet/address').pop()?.body, { type: 'segwit', change: false, label: 'invoice 42' })
  assert.match(r.stdout, /^Label:\s+invoice 42$/m)
  const before = node.calls('POST', '/api/v1/wallet/address').length
  for (const bad of ['   ', 'x'.repeat(101)]) {
    const e = await runCommand(WalletAddress, ['--node', node.url, '--label', bad, '--json'])
    assert.equal(e.exitCode, 2)
    assert.equal((JSON.parse(e.stdout) as { error: { code: string } }).error.code, 'INVALID_LABEL')
  }
  assert.equal(node.calls('POST', '/api/v1/wallet/address').length, before)
})

test('wallet addresses: newest first with labels and use; --unused and --used filter; --json is the node answer', async () => {
  const j = await runCommand(WalletAddresses, ['--node', node.url, '--json'])
  assert.deepEqual(JSON.parse(j.stdout) as AddressListDto, ADDRESSES)
  const t = await runCommand(WalletAddresses, ['--node', node.url])
  const lines = t.stdout.split('\n')
  assert.match(lines[0], /^ADDRESS\s+TYPE\s+PATH\s+USED\s+TXS\s+RECEIVED \(sat\)\s+LABEL$/)
  assert.match(lines[3], /^bcrt1qsecond\s+segwit\s+m\/0\/1\s+yes\s+2\s+70000\s+acme$/)
  const u = await runCommand(WalletAddresses, ['--node', node.url, '--unused', '--json'])
  assert.equal(node.calls('GET', '/api/v1/wallet/addresses').pop()?.url, '/api/v1/wallet/addresses?used=false&limit=100')
  assert.deepEqual(
    (JSON.parse(u.stdout) as AddressListDto).addresses.map((a) => a.index),
    [2, 0],
  )
  const both = await runCommand(WalletAddresses, ['--node', node.url, '--used', '--unused'])
  assert.equal(both.exitCode, 2)
})
