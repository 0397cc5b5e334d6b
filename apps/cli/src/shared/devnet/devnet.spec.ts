/**
 * The devnet's process handling with real etcd and the machine's PostgreSQL, and a stand-in
 * for the node service (src/testing/fake-node.ts): up, up again, a node restarted, down.
 * The real node service is exercised by src/e2e/devnet.spec.ts.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, test } from 'node:test'
import { readFileSync } from 'node:fs'
import { BinResult, dropDatabase, MACHINE_DATABASE_URL, runBin, uniqueDbName } from '../../testing/cli-bin'
import { spawn } from 'node:child_process'
import type { DevnetDownResult, DevnetStatusResult, DevnetUpResult } from './devnet'
import { pickFreeRange } from './ports'
import { isAlive } from './processes'

const dir = mkdtempSync(join(tmpdir(), 'tw-cli-devnet-'))
const dbName = uniqueDbName('tw_cli_devnet')
const env = {
  ...process.env,
  DATABASE_URL: MACHINE_DATABASE_URL,
  TW_NODE_ENTRY: resolve(__dirname, '..', '..', 'testing', 'fake-node.js'),
  TW_REGTEST_ENTRY: resolve(__dirname, '..', '..', 'testing', 'fake-regtest.js'),
}
let pids: number[] = []

after(async () => {
  runBin(['devnet', 'down', '--dir', dir], env)
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  await dropDatabase(MACHINE_DATABASE_URL, dbName)
  rmSync(dir, { recursive: true, force: true })
})

function ok<T>(r: BinResult<T>): T {
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`)
  return r.json
}

test('devnet up, up again, restart a node, down (with a stand-in node service)', async () => {
  const basePort = await pickFreeRange(5)
  const up = ok(runBin<DevnetUpResult>(['devnet', 'up', '--dir', dir, '--db-name', dbName, '--base-port', String(basePort)], env))
  assert.equal(up.healthyNodes, 5)
  assert.equal(up.createdDatabase, true)
  assert.deepEqual(up.started, { etcd: ['etcd-1', 'etcd-2', 'etcd-3'], postgres: false, regtest: true, nodes: [1, 2, 3, 4, 5] })
  assert.ok(up.chain?.running && up.chain.healthy, 'regtest chain up')
  assert.equal(up.chain?.tipHeight, 101)
  assert.equal(up.chain?.blockIntervalMs, 0)
  assert.deepEqual(up.keys.map((k) => `${k.protocol}:${k.status}`).sort(), ['ecdsa:active', 'schnorr:active'])
  assert.match(up.warning, /INSECURE/)
  assert.match(runBin(['devnet', 'up', '--dir', dir], env).stderr, /INSECURE DEVNET/)
  pids = [...up.nodes.map((n) => n.pid ?? 0), ...up.etcd.members.map((m) => m.pid ?? 0), up.chain?.pid ?? 0]

  // Up again: nothing is started twice, no key is added.
  const again = ok(runBin<DevnetUpResult>(['devnet', 'up', '--dir', dir], env))
  assert.deepEqual(again.started, { etcd: [], postgres: false, regtest: false, nodes: [] })
  assert.equal(again.keys.length, 2)
  assert.deepEqual(
    again.nodes.map((n) => n.pid),
    up.nodes.map((n) => n.pid),
  )

  // A node killed and brought back by `up` keeps its ports.
  process.kill(up.nodes[2].pid ?? 0, 'SIGKILL')
  const status = ok(runBin<DevnetStatusResult>(['devnet', 'status', '--dir', dir], env))
  assert.equal(status.nodes[2].health, 'stopped')
  assert.equal(status.healthyNodes, 4)
  const restarted = ok(runBin<DevnetUpResult>(['devnet', 'up', '--dir', dir], env))
  assert.deepEqual(restarted.started.nodes, [3])
  assert.equal(restarted.nodes[2].apiUrl, up.nodes[2].apiUrl)
  pids.push(restarted.nodes[2].pid ?? 0)

  const down = ok(runBin<DevnetDownResult>(['devnet', 'down', '--dir', dir], env))
  assert.equal(down.stopped.length, 9)
  assert.ok(down.stopped.some((s) => s.name === 'regtest'))
  assert.deepEqual(down.busyPorts, [])
  for (const pid of pids) assert.ok(!isAlive(pid), `pid ${pid} still alive`)
  const after = ok(runBin<DevnetStatusResult>(['devnet', 'status', '--dir', dir], env))
  assert.ok(after.nodes.every((n) => n.health === 'stopped' && n.pid === null))
  assert.ok(after.etcd.members.every((m) => !m.running))
  assert.equal(after.chain?.running, false)

  // Down again: already done is success.
  assert.deepEqual(ok(runBin<DevnetDownResult>(['devnet', 'down', '--dir', dir], env)).stopped, [])
})

test('devnet status without a devnet is DEVNET_NOT_FOUND; down is a no-op', () => {
  const empty = join(dir, 'nothing-here')
  const s = runBin<{ error: { code: string } }>(['devnet', 'status', '--dir', empty], env)
  assert.equal(s.status, 1)
  assert.equal(s.json.error.code, 'DEVNET_NOT_FOUND')
  assert.equal(ok(runBin<DevnetDownResult>(['devnet', 'down', '--dir', empty], env)).existed, false)
})

test('devnet up without etcd says how to install it', () => {
  const r = runBin<{ error: { code: string; message: string } }>(['devnet', 'up', '--dir', join(dir, 'no-etcd')], { ...env, TW_ETCD_BIN: '/nonexistent/etcd' })
  assert.equal(r.status, 1)
  assert.equal(r.json.error.code, 'ETCD_NOT_FOUND')
  assert.match(r.json.error.message, /install it with `apt-get install etcd-server`/)
})

/** The environment a running process was started with (Linux /proc). */
function environOf(pid: number): Record<string, string> {
  const pairs = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)
  return Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]))
}

test('devnet up --chain-url: the nodes use the outside chain and no embedded chain starts; switching needs devnet down', async () => {
  // The outside chain runs in its own process: runBin blocks this one.
  const [chainPort] = [await pickFreeRange(1)]
  const child = spawn(process.execPath, [env.TW_REGTEST_ENTRY, '--port', String(chainPort), '--data-dir', dir, '--block-interval-ms', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const outside = {
    url: await new Promise<string>((res, rej) => {
      child.stdout.once('data', (d: Buffer) => res((JSON.parse(d.toString()) as { url: string }).url))
      child.once('exit', (code) => rej(new Error(`fake-regtest exited ${code}`)))
    }),
    close: async () => {
      child.kill('SIGTERM')
    },
  }
  const extDir = join(dir, 'outside-chain')
  const extDb = uniqueDbName('tw_cli_devnet_ext')
  try {
    const usage = runBin<{ error: { code: string; message: string } }>(['devnet', 'up', '--dir', extDir, '--network', 'signet'], env)
    assert.equal(usage.status, 2)
    assert.equal(usage.json.error.code, 'CHAIN_URL_REQUIRED')

    const basePort = await pickFreeRange(5)
    const up = ok(
      runBin<DevnetUpResult>(
        ['devnet', 'up', '--dir', extDir, '--db-name', extDb, '--base-port', String(basePort), '--no-keys', '--network', 'regtest', '--chain-url', outside.url],
        env,
      ),
    )
    assert.equal(up.healthyNodes, 5)
    assert.equal(up.started.regtest, false, 'no embedded chain started')
    assert.deepEqual(
      { url: up.chain?.url, network: up.chain?.network, external: up.chain?.external, tip: up.chain?.tipHeight },
      { url: outside.url, network: 'regtest', external: true, tip: 101 },
    )
    for (const n of up.nodes) {
      const vars = environOf(n.pid ?? 0)
      assert.equal(vars.TW_CHAIN_URL, outside.url, `node ${n.id}'s TW_CHAIN_URL`)
      assert.equal(vars.TW_NETWORK, 'regtest')
    }
    // Recorded: a later `up` without the flags keeps it.
    assert.equal(ok(runBin<DevnetStatusResult>(['devnet', 'status', '--dir', extDir], env)).chain?.url, outside.url)

    const busy = runBin<{ error: { code: string; message: string } }>(['devnet', 'up', '--dir', extDir, '--network', 'regtest'], env)
    assert.equal(busy.status, 1)
    assert.equal(busy.json.error.code, 'DEVNET_CHAIN_IN_USE')
    assert.match(busy.json.error.message, /run `threshold-wallet devnet down` before switching to the embedded regtest chain/)
  } finally {
    runBin(['devnet', 'down', '--dir', extDir], env)
    await outside.close()
    await dropDatabase(MACHINE_DATABASE_URL, extDb)
  }
})
