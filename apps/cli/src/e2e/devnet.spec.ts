/**
 * End to end, as a new user runs it: the built `threshold-wallet` binary brings up a devnet
 * of the real node service (apps/node/dist/main.js) with real etcd and the machine's
 * PostgreSQL and the embedded regtest chain (@tw/regtest), creates keys, survives a node restart, and goes down leaving nothing running.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import type { BalanceDto, ClusterStatusDto, KeyListDto } from '@tw/api'
import type { DevnetDemoResult } from '../commands/devnet/demo'
import type { DevnetDownResult, DevnetStatusResult, DevnetUpResult } from '../shared/devnet/devnet'
import { pickFreeRange } from '../shared/devnet/ports'
import { isAlive } from '../shared/devnet/processes'
import { readStateSync } from '../shared/devnet/state'
import { BinResult, dropDatabase, MACHINE_DATABASE_URL, runBin, uniqueDbName } from '../testing/cli-bin'

const dir = mkdtempSync(join(tmpdir(), 'tw-e2e-devnet-'))
const dbName = uniqueDbName('tw_e2e')
const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: MACHINE_DATABASE_URL, TW_NODE_URL: undefined, TW_NODE_ENTRY: undefined, TW_REGTEST_ENTRY: undefined }
const seenPids = new Set<number>()

function statePids(): number[] {
  const s = readStateSync(dir, '/')
  return s ? [...s.nodes.map((n) => n.pid), ...s.etcd.map((m) => m.pid), s.database.pid, s.regtest?.pid].filter((p): p is number => !!p) : []
}

after(async () => {
  runBin(['devnet', 'down', '--dir', dir], env)
  for (const pid of seenPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  await dropDatabase(MACHINE_DATABASE_URL, dbName)
  rmSync(dir, { recursive: true, force: true })
})

function ok<T>(r: BinResult<T>): T {
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`)
  return r.json
}

function keysOn(url: string): KeyListDto {
  return ok(runBin<KeyListDto>(['keys', 'list', '--node', url], env))
}

/** Each protocol has exactly one active key, and every node reports the same public key. */
function assertSameKeysEverywhere(urls: string[]): void {
  const lists = urls.map(keysOn)
  for (const protocol of ['ecdsa', 'schnorr'] as const) {
    const active = lists.map((l) => l.keys.filter((k) => k.protocol === protocol && k.status === 'active'))
    for (const [i, keys] of active.entries()) assert.equal(keys.length, 1, `node ${i + 1}: one active ${protocol} key`)
    const pub = active[0][0].publicKey
    assert.match(pub ?? '', /^0[23][0-9a-f]{64}$/)
    for (const keys of active) {
      assert.equal(keys[0].id, active[0][0].id)
      assert.equal(keys[0].publicKey, pub)
    }
  }
}

test('devnet: up, status, cluster status, keys on every node, a node restart, down', async () => {
  const basePort = await pickFreeRange(5)
  const up = ok(runBin<DevnetUpResult>(['devnet', 'up', '--dir', dir, '--db-name', dbName, '--base-port', String(basePort)], env))
  for (const p of statePids()) seenPids.add(p)
  assert.match(up.warning, /INSECURE/)

  const status = ok(runBin<DevnetStatusResult>(['devnet', 'status', '--dir', dir], env))
  assert.equal(status.healthyNodes, 5)
  assert.ok(status.nodes.every((n) => n.health === 'ready' && n.running && n.pid))
  assert.ok(status.chain?.running && status.chain.healthy, 'regtest chain up')
  const urls = status.nodes.map((n) => n.apiUrl)

  const cluster = ok(runBin<ClusterStatusDto>(['cluster', 'status', '--node', urls[0]], env))
  assert.equal(cluster.nodesUp, 5)
  assert.equal(cluster.nodes.filter((n) => n.up).length, 5)
  assert.ok(cluster.leader !== null && cluster.leader >= 1 && cluster.leader <= 5, 'one leader')
  assert.equal(cluster.etcd.members.length, 3)
  assert.ok(cluster.etcd.healthy)

  assertSameKeysEverywhere(urls)

  // Kill one node; `devnet up` brings it back with the same keys.
  const victim = status.nodes[3]
  process.kill(victim.pid ?? 0, 'SIGKILL')
  const again = ok(runBin<DevnetUpResult>(['devnet', 'up', '--dir', dir], env))
  assert.deepEqual(again.started.nodes, [victim.id])
  for (const p of statePids()) seenPids.add(p)
  assertSameKeysEverywhere(urls)

  const down = ok(runBin<DevnetDownResult>(['devnet', 'down', '--dir', dir], env))
  assert.deepEqual(down.busyPorts, [])
  for (const pid of seenPids) assert.ok(!isAlive(pid), `pid ${pid} still alive after devnet down`)
})

test('devnet demo: up again, fund both wallet types, a SegWit (ECDSA) and a Taproot (FROST) spend confirmed, balances drop by amount + fee, down', async () => {
  // The devnet of the test above (same keys), brought up again.
  ok(runBin<DevnetUpResult>(['devnet', 'up', '--dir', dir], env))
  for (const p of statePids()) seenPids.add(p)

  const demo = ok(runBin<DevnetDemoResult>(['devnet', 'demo', '--dir', dir, '--timeout', '840'], env))
  assert.deepEqual(
    demo.funding.map((f) => [f.type, f.amountSats]),
    [
      ['segwit', 200_000],
      ['taproot', 200_000],
    ],
  )
  assert.deepEqual(
    demo.spends.map((s) => [s.type, s.state, s.amountSats]),
    [
      ['segwit', 'confirmed', 50_000],
      ['taproot', 'confirmed', 50_000],
    ],
  )
  for (const s of demo.spends) {
    assert.match(s.txid ?? '', /^[0-9a-f]{64}$/, `${s.type} txid`)
    assert.ok(s.confirmations >= 1, `${s.type}: ${s.confirmations} confirmations`)
    assert.ok(s.feeSats > 0, `${s.type} fee`)
    assert.equal(s.signers?.length, 4, `${s.type} signers`)
    assert.ok(s.states.includes('broadcast') && s.states[s.states.length - 1] === 'confirmed', `${s.type} states ${s.states.join(' ')}`)
  }
  assert.equal(demo.spends.find((s) => s.type === 'taproot')?.signingMode, 'frost')
  assert.notEqual(demo.spends[0].txid, demo.spends[1].txid)

  // `wallet balance` afterwards shows each wallet's confirmed balance down by amount + fee.
  const balance = ok(runBin<BalanceDto>(['wallet', 'balance', '--node', demo.nodeUrl], env))
  for (const s of demo.spends) {
    const confirmed = balance.wallets.find((w) => w.type === s.type)?.confirmedSats
    assert.equal(confirmed, demo.balances.before[s.type] - s.amountSats - s.feeSats, `${s.type} balance`)
    assert.equal(confirmed, demo.balances.after[s.type])
  }

  const down = ok(runBin<DevnetDownResult>(['devnet', 'down', '--dir', dir], env))
  assert.deepEqual(down.busyPorts, [])
  for (const pid of seenPids) assert.ok(!isAlive(pid), `pid ${pid} still alive after devnet down`)
})
