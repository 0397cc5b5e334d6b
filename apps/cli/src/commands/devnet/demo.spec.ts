/** `devnet demo` against the stand-in node (fake-wallet-node) and chain (fake-regtest). */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, test } from 'node:test'
import type { BalanceDto, WalletType } from '@tw/api'
import { DevnetPaths, DevnetState, writeStateSync } from '../../shared/devnet/state'
import { FakeRegtest } from '../../testing/fake-regtest'
import { BALANCE, FakeWalletNode } from '../../testing/fake-wallet-node'
import { runCommand } from '../../testing/run-command'
import DevnetDemo, { DEMO_FUNDING_SATS, DevnetDemoResult } from './demo'

type ErrorJson = { error: { code: string; message: string } }
let chain: FakeRegtest
const node = new FakeWalletNode()
const dir = mkdtempSync(join(tmpdir(), 'tw-cli-demo-'))
const BASE: Record<WalletType, number> = { segwit: 150_000_000, taproot: 50_000_000 }
/** Sats the fake balance loses beyond amount + fee (to provoke a mismatch). */
let leak = 0

function state(nodePort: number, chainPort: number): DevnetState {
  return {
    version: 1,
    createdAt: new Date(0).toISOString(),
    clusterToken: 't',
    etcd: [],
    database: { mode: 'external', name: 'tw_devnet', port: null, pid: null },
    regtest: { port: chainPort, pid: null, blockIntervalMs: 0 },
    nodes: [1, 2, 3, 4, 5].map((id) => ({ id, apiPort: id === 1 ? nodePort : 1, quicPort: 9000 + id, pid: null })),
  }
}

/**
 * The wallet's balance as a node would report it: faucet payments to its addresses count once a
 * block was mined after them, confirmed spends take amount + fee off.
 */
function balance(): BalanceDto {
  const mined = chain.mines.length
  const wallets = BALANCE.wallets.map((w) => {
    const prefix = w.type === 'segwit' ? 'bcrt1qfake' : 'bcrt1pfake'
    const funded = mined > 0 ? chain.faucets.filter((f) => f.address.startsWith(prefix)).reduce((a, f) => a + f.amountSats, 0) : 0
    const spent = [...node.txs.values()]
      .map((t) => t.tx)
      .filter((t) => t.type === w.type && t.state === 'confirmed')
      .reduce((a, t) => a + t.amountSats + t.feeSats + leak, 0)
    return { ...w, confirmedSats: BASE[w.type] + funded - spent, unconfirmedSats: 0 }
  })
  return { ...BALANCE, wallets, confirmedSats: wallets.reduce((a, w) => a + w.confirmedSats, 0), unconfirmedSats: 0 }
}

before(async () => {
  chain = await new FakeRegtest().start()
  await node.start()
  const port = (u: string): number => Number(new URL(u).port)
  writeStateSync(new DevnetPaths(dir, '/'), state(port(node.url), port(chain.url)))
})
after(async () => {
  await chain.close()
  await node.close()
  rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => {
  node.reset()
  node.script = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed']
  node.balance = balance
  node.txidOf = (id) => createHash('sha256').update(id).digest('hex')
  chain.faucets.length = 0
  chain.mines.length = 0
  leak = 0
})

test('devnet demo: funds both wallet types, spends from each to the faucet, both confirmed, balances drop by amount + fee', async () => {
  const r = await runCommand(DevnetDemo, ['--dir', dir, '--poll-interval', '10', '--json'])
  assert.equal(r.exitCode, 0, r.stdout + r.stderr)
  const out = JSON.parse(r.stdout) as DevnetDemoResult
  // Funding: 200 000 sats to a fresh SegWit and a fresh Taproot address, then one block.
  assert.deepEqual(
    out.funding.map((f) => [f.type, f.amountSats]),
    [
      ['segwit', DEMO_FUNDING_SATS],
      ['taproot', DEMO_FUNDING_SATS],
    ],
  )
  assert.match(out.funding[0].address, /^bcrt1qfake\d+$/)
  assert.match(out.funding[1].address, /^bcrt1pfake\d+$/)
  assert.deepEqual(
    chain.faucets.map((f) => [f.address, f.amountSats, f.txid]),
    out.funding.map((f) => [f.address, f.amountSats, f.txid]),
  )
  assert.equal(chain.mines.length, 2, 'one block for the funding, one for the spends')
  // Spends: SegWit then Taproot, 50 000 sats each to the faucet's address, fresh idempotency keys.
  const posts = node.calls('POST', '/api/v1/transactions')
  assert.deepEqual(
    posts.map((p) => p.body),
    [
      { to: chain.faucetAddress, amountSats: 50_000, type: 'segwit' },
      { to: chain.faucetAddress, amountSats: 50_000, type: 'taproot' },
    ],
  )
  const keys = posts.map((p) => p.headers['idempotency-key'])
  assert.equal(new Set(keys).size, 2)
  assert.deepEqual(
    out.spends.map((s) => [s.type, s.state, s.signingMode, s.idempotencyKey]),
    [
      ['segwit', 'confirmed', 'presignature', keys[0]],
      ['taproot', 'confirmed', 'frost', keys[1]],
    ],
  )
  for (const s of out.spends) {
    assert.match(s.txid ?? '', /^[0-9a-f]{64}$/)
    assert.deepEqual(s.signers, [1, 2, 3, 4])
    assert.deepEqual(s.states, ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed'])
  }
  assert.notEqual(out.spends[0].txid, out.spends[1].txid)
  // Balances: before = base + funding; after = before - amount - fee.
  for (const t of ['segwit', 'taproot'] as const) {
    const spend = out.spends.find((s) => s.type === t)
    assert.equal(out.balances.before[t], BASE[t] + DEMO_FUNDING_SATS)
    assert.equal(out.balances.after[t], out.balances.before[t] - 50_000 - (spend?.feeSats ?? NaN))
  }
  // Progress went to stderr, stdout is JSON only.
  assert.match(r.stderr, /Following transaction tx-1 \(segwit\) until broadcast\.\.\. done/)
})

test('devnet demo (text): a table with both txids, fees, signing modes and the balances', async () => {
  const r = await runCommand(DevnetDemo, ['--dir', dir, '--poll-interval', '10', '--amount', '20000'])
  assert.equal(r.exitCode, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.match(lines[0], new RegExp(`^Spends \\(each paid 20000 sats to ${chain.faucetAddress}\\):$`))
  assert.match(lines[1], /^TYPE\s+TXID\s+FEE \(sat\)\s+MODE\s+SIGNERS\s+BEFORE \(sat\)\s+AFTER \(sat\)$/)
  const txid = (id: string): string => createHash('sha256').update(id).digest('hex')
  assert.match(lines[3], new RegExp(`^segwit\\s+${txid('tx-1')}\\s+282\\s+presignature\\s+1,2,3,4\\s+150200000\\s+150179718$`))
  assert.match(lines[4], new RegExp(`^taproot\\s+${txid('tx-2')}\\s+282\\s+frost\\s+1,2,3,4\\s+50200000\\s+50179718$`))
  assert.match(lines[5], /exactly amount \+ fee/)
})

test('devnet demo: a spend that ends failed is a coded error, exit 1, and nothing more is sent', async () => {
  node.script = ['pending', 'voting', 'approved', 'signing', 'failed']
  node.failure = { code: 'SIGNING_FAILED', message: 'signing round timed out' }
  const r = await runCommand(DevnetDemo, ['--dir', dir, '--poll-interval', '10', '--json'])
  assert.equal(r.exitCode, 1)
  const err = (JSON.parse(r.stdout) as ErrorJson).error
  assert.equal(err.code, 'TX_FAILED')
  assert.match(err.message, /segwit spend \(transaction tx-1\) failed: signing round timed out \(SIGNING_FAILED\)/)
  assert.equal(node.calls('POST', '/api/v1/transactions').length, 1, 'the Taproot spend is not attempted')
  assert.equal(chain.mines.length, 1, 'only the funding block')

  const text = await runCommand(DevnetDemo, ['--dir', dir, '--poll-interval', '10'])
  assert.equal(text.exitCode, 1)
  assert.equal(text.stdout, '')
  assert.match(text.stderr, /^Error \(TX_FAILED\): segwit spend \(transaction tx-\d+\) failed: /m)
})

test('devnet demo: a balance that did not drop by exactly amount + fee is DEMO_BALANCE_MISMATCH', async () => {
  leak = 1
  const r = await runCommand(DevnetDemo, ['--dir', dir, '--poll-interval', '10', '--json'])
  assert.equal(r.exitCode, 1)
  const err = (JSON.parse(r.stdout) as ErrorJson).error
  assert.equal(err.code, 'DEMO_BALANCE_MISMATCH')
  assert.match(err.message, /^segwit wallet: confirmed balance 150149717 sats after the spend, expected 150149718 /)
})

test('devnet demo: bad flags and a missing devnet are coded errors before anything is sent', async () => {
  const bad = await runCommand(DevnetDemo, ['--dir', dir, '--amount', '0', '--json'])
  assert.equal(bad.exitCode, 2)
  assert.equal((JSON.parse(bad.stdout) as ErrorJson).error.code, 'INVALID_AMOUNT')
  const none = await runCommand(DevnetDemo, ['--dir', join(dir, 'nothing-here'), '--json'])
  assert.equal(none.exitCode, 1)
  assert.equal((JSON.parse(none.stdout) as ErrorJson).error.code, 'DEVNET_NOT_FOUND')
  assert.equal(node.requests.length, 0)
  assert.equal(chain.faucets.length, 0)
})

test('devnet demo: a wallet that never sees the funding confirmed times out with DEMO_TIMEOUT', async () => {
  node.balance = () => BALANCE
  const r = await runCommand(DevnetDemo, ['--dir', dir, '--poll-interval', '10', '--timeout', '1', '--json'])
  assert.equal(r.exitCode, 1)
  assert.equal((JSON.parse(r.stdout) as ErrorJson).error.code, 'DEMO_TIMEOUT')
  assert.equal(node.calls('POST', '/api/v1/transactions').length, 0)
})
