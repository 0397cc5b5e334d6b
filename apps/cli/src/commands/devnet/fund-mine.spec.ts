import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, test } from 'node:test'
import { DevnetPaths, DevnetState, writeStateSync } from '../../shared/devnet/state'
import { FakeRegtest } from '../../testing/fake-regtest'
import { FakeWalletNode } from '../../testing/fake-wallet-node'
import { runCommand } from '../../testing/run-command'
import DevnetFund, { DevnetFundResult } from './fund'
import DevnetMine from './mine'
import type { MineResult } from '../../shared/devnet/regtest'

type ErrorJson = { error: { code: string; message: string } }
let chain: FakeRegtest
const node = new FakeWalletNode()
const dir = mkdtempSync(join(tmpdir(), 'tw-cli-fund-'))
const noChainDir = join(dir, 'old-devnet')

/** A devnet state file whose node 1 and chain are the fakes (nothing else runs). */
function state(nodePort: number, chainPort: number | undefined): DevnetState {
  return {
    version: 1,
    createdAt: new Date(0).toISOString(),
    clusterToken: 't',
    etcd: [],
    database: { mode: 'external', name: 'tw_devnet', port: null, pid: null },
    ...(chainPort === undefined ? {} : { regtest: { port: chainPort, pid: null, blockIntervalMs: 0 } }),
    nodes: [1, 2, 3, 4, 5].map((id) => ({ id, apiPort: id === 1 ? nodePort : 1, quicPort: 9000 + id, pid: null })),
  }
}

before(async () => {
  chain = await new FakeRegtest().start()
  await node.start()
  const port = (u: string): number => Number(new URL(u).port)
  writeStateSync(new DevnetPaths(dir, '/'), state(port(node.url), port(chain.url)))
  writeStateSync(new DevnetPaths(noChainDir, '/'), state(port(node.url), undefined))
})
after(async () => {
  await chain.close()
  await node.close()
  rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => {
  chain.faucets.length = 0
  chain.mines.length = 0
})

test("devnet fund: a fresh address from the devnet's node 1, the faucet, one block", async () => {
  const r = await runCommand(DevnetFund, ['--dir', dir, '--amount', '1000000', '--type', 'taproot', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  const out = JSON.parse(r.stdout) as DevnetFundResult
  assert.match(out.address, /^bcrt1pfake\d+$/)
  assert.equal(out.type, 'taproot')
  assert.equal(out.amountSats, 1_000_000)
  assert.equal(out.chainUrl, chain.url)
  assert.deepEqual(chain.faucets, [{ address: out.address, amountSats: 1_000_000, txid: out.txid }])
  assert.deepEqual(chain.mines, [{ blocks: 1, address: undefined }])
  assert.equal(out.mined?.height, chain.height)
  assert.deepEqual(node.calls('POST', '/api/v1/wallet/address').pop()?.body, { type: 'taproot', change: false })
})

test('devnet fund --address --no-mine: no node asked, no block mined; text output', async () => {
  const asked = node.calls('POST', '/api/v1/wallet/address').length
  const r = await runCommand(DevnetFund, ['--chain-url', chain.url, '--amount', '5000', '--address', 'bcrt1qexternal', '--no-mine'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.match(r.stdout, /^Txid:\s+[0-9a-f]{64}$/m)
  assert.match(r.stdout, /^Address:\s+bcrt1qexternal$/m)
  assert.match(r.stdout, /^Mined:\s+no \(unconfirmed/m)
  assert.equal(chain.mines.length, 0)
  assert.equal(node.calls('POST', '/api/v1/wallet/address').length, asked)
})

test('devnet fund: bad amounts are INVALID_AMOUNT before anything is called', async () => {
  for (const amount of ['0', '-5', '1.5', 'abc']) {
    const r = await runCommand(DevnetFund, ['--dir', dir, '--amount', amount, '--json'])
    assert.equal(r.exitCode, 2)
    assert.equal((JSON.parse(r.stdout) as ErrorJson).error.code, 'INVALID_AMOUNT')
  }
  assert.equal(chain.faucets.length, 0)
})

test("devnet fund: the chain's error code is kept (faucet rejects the address)", async () => {
  const r = await runCommand(DevnetFund, ['--dir', dir, '--amount', '5000', '--address', 'tb1qwrongnet', '--json'])
  assert.equal(r.exitCode, 1)
  const e = JSON.parse(r.stdout) as ErrorJson
  assert.equal(e.error.code, 'INVALID_ADDRESS')
  assert.match(e.error.message, /not a regtest address: tb1qwrongnet/)
})

test('devnet mine --blocks 3 (and --address) prints the hashes and the tip height', async () => {
  const r = await runCommand<MineResult>(DevnetMine, ['--dir', dir, '--blocks', '3', '--address', 'bcrt1qminer', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  const out = JSON.parse(r.stdout) as MineResult
  assert.equal(out.hashes.length, 3)
  assert.equal(out.height, chain.height)
  assert.deepEqual(chain.mines, [{ blocks: 3, address: 'bcrt1qminer' }])
  const t = await runCommand(DevnetMine, ['--chain-url', chain.url])
  assert.match(t.stdout, new RegExp(`^Mined 1 block\\(s\\); tip height ${chain.height}\\.$`, 'm'))
})

test('devnet mine/fund: no devnet, a devnet without a chain, a chain that is down', async () => {
  const none = await runCommand(DevnetMine, ['--dir', join(dir, 'nothing'), '--json'])
  assert.equal(none.exitCode, 1)
  assert.equal((JSON.parse(none.stdout) as ErrorJson).error.code, 'DEVNET_NOT_FOUND')
  const old = await runCommand(DevnetFund, ['--dir', noChainDir, '--amount', '1', '--json'])
  assert.equal((JSON.parse(old.stdout) as ErrorJson).error.code, 'REGTEST_NOT_STARTED')
  const down = await runCommand(DevnetMine, ['--chain-url', 'http://127.0.0.1:1', '--json'])
  assert.equal(down.exitCode, 1)
  assert.equal((JSON.parse(down.stdout) as ErrorJson).error.code, 'REGTEST_UNREACHABLE')
  const bad = await runCommand(DevnetMine, ['--chain-url', 'ftp://x', '--json'])
  assert.equal(bad.exitCode, 2)
  assert.equal((JSON.parse(bad.stdout) as ErrorJson).error.code, 'BAD_CHAIN_URL')
  assert.equal((await runCommand(DevnetMine, ['--chain-url', chain.url, '--blocks', '0'])).exitCode, 2)
})
