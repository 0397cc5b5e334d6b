import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import DevnetStatus from '../../commands/devnet/status'
import DevnetUp from '../../commands/devnet/up'
import { runCommand } from '../../testing/run-command'
import { CliError } from '../errors'
import { byzantineBlockedWarning, byzantineEnv, byzantineWarning, mergeByzantine, parseBehaviours, parseByzantineSpec, planByzantine } from './byzantine'
import type { DevnetStatusResult } from './devnet'
import { nodeEnv } from './nodes'
import { DevnetPaths, DevnetState, writeStateSync } from './state'

const throwsCode = (fn: () => unknown, code: string, message?: RegExp): void =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CliError, String(e))
    assert.equal(e.code, code)
    assert.equal(e.exitCode, 2)
    if (message) assert.match(e.message, message)
    return true
  })

test('parseByzantineSpec accepts <node>:<behaviour>[,<behaviour>] for nodes 1..5', () => {
  assert.deepEqual(parseByzantineSpec('5:corrupt-share'), { node: 5, behaviours: ['corrupt-share'] })
  assert.deepEqual(parseByzantineSpec('3:equivocate-vote,delay'), { node: 3, behaviours: ['equivocate-vote', 'delay'] })
  assert.deepEqual(parseByzantineSpec(' 1: drop , drop,approve-everything'), { node: 1, behaviours: ['drop', 'approve-everything'] })
  assert.deepEqual(parseByzantineSpec('2:replay,wrong-session'), { node: 2, behaviours: ['replay', 'wrong-session'] })
})

test('parseByzantineSpec rejects a missing colon, a node outside 1..5, no or unknown behaviours', () => {
  throwsCode(() => parseByzantineSpec('corrupt-share'), 'BAD_BYZANTINE_SPEC', /<node>:<behaviour>/)
  for (const bad of ['0:drop', '6:drop', 'x:drop', '1.5:drop', ':drop', '-1:drop']) throwsCode(() => parseByzantineSpec(bad), 'BAD_BYZANTINE_SPEC', /node must be 1\.\.5/)
  throwsCode(() => parseByzantineSpec('5:'), 'UNKNOWN_BEHAVIOUR', /names no behaviour/)
  throwsCode(
    () => parseByzantineSpec('5:corrupt-share,lie'),
    'UNKNOWN_BEHAVIOUR',
    /"lie".*known: corrupt-share, equivocate-vote, replay, wrong-session, drop, delay, approve-everything, etcd-tamper/,
  )
  throwsCode(() => parseBehaviours('a,b'), 'UNKNOWN_BEHAVIOUR', /behaviours "a", "b"/)
})

test('mergeByzantine: one entry per node, behaviours of a repeated node merged, sorted by node', () => {
  assert.deepEqual(mergeByzantine([parseByzantineSpec('5:corrupt-share'), parseByzantineSpec('3:equivocate-vote'), parseByzantineSpec('5:delay,corrupt-share')]), [
    { node: 3, behaviours: ['equivocate-vote'] },
    { node: 5, behaviours: ['corrupt-share', 'delay'] },
  ])
})

test('planByzantine: no flag keeps state.json, a new drill replaces it, [] clears it; running nodes block a change', () => {
  const five = [{ node: 5, behaviours: ['corrupt-share' as const] }]
  const three = [{ node: 3, behaviours: ['equivocate-vote' as const] }]
  assert.deepEqual(planByzantine(five, undefined, [1, 2]), { byzantine: five, changed: false })
  assert.deepEqual(planByzantine(undefined, five, []), { byzantine: five, changed: true })
  assert.deepEqual(planByzantine(five, three, []), { byzantine: three, changed: true })
  assert.deepEqual(planByzantine(five, [], []), { byzantine: [], changed: true })
  assert.deepEqual(planByzantine(five, five, [1]), { byzantine: five, changed: false }, 'the same drill again is no change')
  assert.deepEqual(planByzantine(five, three, [1, 5]), { byzantine: five, changed: false, blockedBy: [1, 5] })
  assert.deepEqual(planByzantine(undefined, three, [2]), { byzantine: [], changed: false, blockedBy: [2] })
  const w = byzantineBlockedWarning(five, [], [1, 5])
  assert.match(w, /node\(s\) 1, 5 already run with the drill node 5: corrupt-share; the drill is unchanged/)
  assert.match(w, /devnet down`, then `threshold-wallet devnet up` with --no-byzantine/)
  assert.match(byzantineWarning(mergeByzantine([...three, ...five])), /^!! BYZANTINE DRILL: node 3: equivocate-vote; node 5: corrupt-share misbehave on purpose/)
})

const paths = new DevnetPaths('/data/.devnet')
const baseState: DevnetState = {
  version: 1,
  createdAt: new Date(0).toISOString(),
  clusterToken: 'tw-devnet-abc',
  etcd: [1, 2, 3].map((i) => ({ name: `etcd-${i}`, clientPort: 2379 + 1000 * i, peerPort: 2380 + 1000 * i, pid: null })),
  database: { mode: 'external', name: 'tw_devnet', port: null, pid: null },
  nodes: [1, 2, 3, 4, 5].map((id) => ({ id, apiPort: 8080 + id, quicPort: 9000 + id, pid: null })),
}
const envOf = (state: DevnetState, id: number): Record<string, string> =>
  nodeEnv({ paths, state, node: state.nodes[id - 1], databaseUrl: 'postgres://h/tw_devnet', chainUrl: 'http://127.0.0.1:3002', passphrase: 'pw', logLevel: 'log' })

test('nodeEnv: TW_BYZANTINE only on the named nodes, TW_BYZANTINE_DRILL=true on every node; neither without a drill', () => {
  const state: DevnetState = { ...baseState, byzantine: mergeByzantine([parseByzantineSpec('5:corrupt-share'), parseByzantineSpec('3:equivocate-vote,delay')]) }
  for (const id of [1, 2, 3, 4, 5]) {
    const env = envOf(state, id)
    assert.equal(env.TW_BYZANTINE_DRILL, 'true', `node ${id}`)
    assert.equal(env.TW_ENV, 'development')
    if (id === 5) assert.equal(env.TW_BYZANTINE, 'corrupt-share')
    else if (id === 3) assert.equal(env.TW_BYZANTINE, 'equivocate-vote,delay')
    else assert.equal('TW_BYZANTINE' in env, false, `node ${id} has no TW_BYZANTINE`)
  }
  for (const s of [baseState, { ...baseState, byzantine: [] }]) {
    for (const id of [1, 2, 3, 4, 5]) {
      const env = envOf(s, id)
      assert.equal('TW_BYZANTINE' in env || 'TW_BYZANTINE_DRILL' in env, false)
    }
  }
  assert.deepEqual(byzantineEnv(undefined, 1), {})
})

type ErrorOut = { error: { code: string; message: string } }

test('devnet up --byzantine: bad values are usage errors before anything starts; good ones pass the parser', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tw-byz-'))
  const saved = process.env.TW_NODE_ENTRY
  try {
    for (const [value, code] of [
      ['6:drop', 'BAD_BYZANTINE_SPEC'],
      ['5:fly', 'UNKNOWN_BEHAVIOUR'],
      ['corrupt-share', 'BAD_BYZANTINE_SPEC'],
    ]) {
      const r = await runCommand(DevnetUp, ['--dir', join(dir, 'd'), '--byzantine', '5:corrupt-share', '--byzantine', value, '--json'])
      assert.equal(r.exitCode, 2, value)
      const e = (JSON.parse(r.stdout) as ErrorOut).error
      assert.equal(e.code, code, value)
      assert.doesNotMatch(e.message, /Parsing|\n/)
    }
    const both = await runCommand(DevnetUp, ['--dir', join(dir, 'd'), '--byzantine', '5:drop', '--no-byzantine', '--json'])
    assert.equal(both.exitCode, 2)
    assert.equal((JSON.parse(both.stdout) as ErrorOut).error.code, 'INVALID_FLAGS')
    assert.equal(existsSync(join(dir, 'd')), false, 'nothing created')
    // Accepted values get as far as the first real check (the node service entry point).
    process.env.TW_NODE_ENTRY = join(dir, 'missing-main.js')
    const ok = await runCommand(DevnetUp, ['--dir', join(dir, 'd'), '--byzantine', '5:corrupt-share', '--byzantine', '3:equivocate-vote', '--json'])
    assert.equal(ok.exitCode, 1)
    assert.equal((JSON.parse(ok.stdout) as ErrorOut).error.code, 'NODE_NOT_BUILT')
  } finally {
    if (saved === undefined) delete process.env.TW_NODE_ENTRY
    else process.env.TW_NODE_ENTRY = saved
    rmSync(dir, { recursive: true, force: true })
  }
})

test('devnet status shows a loud BYZANTINE DRILL line naming nodes and behaviours from state.json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tw-byz-'))
  const savedDb = process.env.DATABASE_URL
  delete process.env.DATABASE_URL
  try {
    const p = new DevnetPaths(dir, '/')
    writeStateSync(p, { ...baseState, byzantine: mergeByzantine([parseByzantineSpec('5:corrupt-share'), parseByzantineSpec('3:equivocate-vote')]) })
    const r = await runCommand(DevnetStatus, ['--dir', dir])
    assert.equal(r.exitCode, 0, r.stderr)
    assert.match(r.stdout, /^!! BYZANTINE DRILL: node 3: equivocate-vote; node 5: corrupt-share \(misbehaving on purpose/m)
    const j = await runCommand(DevnetStatus, ['--dir', dir, '--json'])
    assert.deepEqual((JSON.parse(j.stdout) as DevnetStatusResult).byzantine, [
      { node: 3, behaviours: ['equivocate-vote'] },
      { node: 5, behaviours: ['corrupt-share'] },
    ])
    writeStateSync(p, baseState)
    const honest = await runCommand(DevnetStatus, ['--dir', dir, '--json'])
    assert.deepEqual((JSON.parse(honest.stdout) as DevnetStatusResult).byzantine, [])
    assert.doesNotMatch((await runCommand(DevnetStatus, ['--dir', dir])).stdout, /BYZANTINE/)
  } finally {
    if (savedDb !== undefined) process.env.DATABASE_URL = savedDb
    rmSync(dir, { recursive: true, force: true })
  }
})
