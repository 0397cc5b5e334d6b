import assert from 'node:assert/strict'
import { after, before, beforeEach, test } from 'node:test'
import type { DrillDto, ViolationListDto } from '@tw/api'
import { JsonServer, RecordedRequest, reply, startJsonServer } from '../../testing/json-server'
import { runCommand } from '../../testing/run-command'
import ByzantineDrill from './drill'
import ByzantineViolations from './violations'

const LIST: ViolationListDto = {
  violations: [
    {
      id: '0a1b2c3d-1111-4000-8000-000000000001',
      type: 'invalid_signature',
      offender: 5,
      sessionId: 'tx-1.1',
      status: 'proven',
      accusers: [1, 2, 3],
      evidence: { share: 'ff' },
      reportedAt: '2025-01-01T00:00:01.000Z',
      provenAt: '2025-01-01T00:00:02.000Z',
    },
    {
      id: '0a1b2c3d-2222-4000-8000-000000000002',
      type: 'double_vote',
      offender: 3,
      sessionId: 'tx-2.1',
      status: 'reported',
      accusers: [1],
      evidence: {},
      reportedAt: '2025-01-01T00:00:03.000Z',
      provenAt: null,
    },
    {
      id: '0a1b2c3d-3333-4000-8000-000000000003',
      type: 'invalid_signature',
      offender: 5,
      sessionId: 'tx-3.1',
      status: 'cleared',
      accusers: [2, 4],
      evidence: {},
      reportedAt: '2025-01-01T00:00:04.000Z',
      provenAt: null,
    },
  ],
  bans: [{ nodeId: 5, reason: '2 proven violations (invalid_signature)', bannedAt: '2025-01-01T00:00:05.000Z', violations: ['0a1b2c3d-1111-4000-8000-000000000001'] }],
  banThreshold: 2,
  minAccusers: 2,
}

/** A node with violations and a drill: `drillAllowed` false answers POST /drill with 403 like a node outside drill mode. */
let requests: RecordedRequest[] = []
let drill: DrillDto = { nodeId: 5, enabled: true, behaviours: ['corrupt-share'] }
let drillAllowed = true
let server: JsonServer
let url: string

before(async () => {
  server = await startJsonServer((req) => {
    if (req.method === 'GET' && req.url === '/api/v1/byzantine/violations') return reply(200, LIST)
    if (req.method === 'GET' && req.url === '/api/v1/drill') return reply(200, drill)
    if (req.method === 'POST' && req.url === '/api/v1/drill') {
      if (!drillAllowed) return reply(403, { error: { code: 'DRILL_DISABLED', message: 'drill mode is off on this node (start it with TW_BYZANTINE_DRILL=true)' } })
      drill = { ...drill, behaviours: (req.body as { behaviours: DrillDto['behaviours'] }).behaviours }
      return reply(200, drill)
    }
    return reply(404, { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` } })
  })
  url = server.url
  requests = server.requests
})
after(() => server.close())
beforeEach(() => {
  requests.length = 0
  drill = { nodeId: 5, enabled: true, behaviours: ['corrupt-share'] }
  drillAllowed = true
})

type ErrorOut = { error: { code: string; message: string } }

test('byzantine violations: table with short ids, bans with their reason, and the ban policy', async () => {
  const r = await runCommand(ByzantineViolations, ['--node', url])
  assert.equal(r.exitCode, 0, r.stderr)
  const lines = r.stdout.split('\n')
  assert.match(lines[0], /^ID\s+TYPE\s+OFFENDER\s+STATUS\s+ACCUSERS\s+REPORTED$/)
  assert.match(lines[2], /^0a1b2c3d\s+invalid_signature\s+5\s+proven\s+1,2,3\s+2025-01-01T00:00:01.000Z$/)
  assert.match(lines[3], /^0a1b2c3d\s+double_vote\s+3\s+reported\s+1\s+2025-01-01T00:00:03.000Z$/)
  assert.match(r.stdout, /^Bans in force:\nNODE\s+BANNED AT\s+VIOLATIONS\s+REASON\n/m)
  assert.match(r.stdout, /^5\s+2025-01-01T00:00:05.000Z\s+0a1b2c3d\s+2 proven violations \(invalid_signature\)$/m)
  assert.match(r.stdout, /banned after 2 proven violation\(s\); a proof needs 2 distinct accuser\(s\)/)
  const j = await runCommand(ByzantineViolations, ['--node', url, '--json'])
  assert.deepEqual(JSON.parse(j.stdout) as ViolationListDto, LIST)
})

test('byzantine violations --offender / --status filter the table and the JSON', async () => {
  const off3 = JSON.parse((await runCommand(ByzantineViolations, ['--node', url, '--offender', '3', '--json'])).stdout) as ViolationListDto
  assert.deepEqual(
    off3.violations.map((v) => v.offender),
    [3],
  )
  assert.deepEqual(off3.bans, [], 'node 3 is not banned')
  assert.equal(off3.banThreshold, 2)
  const proven5 = JSON.parse((await runCommand(ByzantineViolations, ['--node', url, '--offender', '5', '--status', 'proven', '--json'])).stdout) as ViolationListDto
  assert.deepEqual(
    proven5.violations.map((v) => v.id),
    [LIST.violations[0].id],
  )
  assert.deepEqual(
    proven5.bans.map((b) => b.nodeId),
    [5],
  )
  const cleared = await runCommand(ByzantineViolations, ['--node', url, '--status', 'cleared'])
  assert.match(cleared.stdout, /^0a1b2c3d\s+invalid_signature\s+5\s+cleared\s+2,4\s+/m)
  assert.doesNotMatch(cleared.stdout, /double_vote|proven\s+1,2,3/)
  const none = await runCommand(ByzantineViolations, ['--node', url, '--offender', '4'])
  assert.match(none.stdout, /^No violations match the filters \(3 in all\)\.$/m)
  assert.match(none.stdout, /^No bans in force\.$/m)
})

test('byzantine violations: bad filters are usage errors that never reach the node', async () => {
  for (const argv of [
    ['--offender', '0'],
    ['--offender', '256'],
    ['--status', 'banned'],
  ]) {
    const r = await runCommand(ByzantineViolations, ['--node', url, '--json', ...argv])
    assert.equal(r.exitCode, 2, argv.join(' '))
    assert.equal((JSON.parse(r.stdout) as ErrorOut).error.code, 'INVALID_FLAGS')
  }
  assert.equal(requests.length, 0)
})

test("byzantine drill shows the node's behaviours", async () => {
  const r = await runCommand(ByzantineDrill, ['--node', url])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.match(r.stdout, /^Node:\s+5$/m)
  assert.match(r.stdout, /^Drill mode:\s+enabled/m)
  assert.match(r.stdout, /^Behaviours:\s+corrupt-share$/m)
  assert.deepEqual(
    requests.map((q) => `${q.method} ${q.url}`),
    ['GET /api/v1/drill'],
  )
  const j = await runCommand(ByzantineDrill, ['--node', url, '--json'])
  assert.deepEqual(JSON.parse(j.stdout) as DrillDto, drill)
})

test('byzantine drill --set posts the behaviours (deduplicated) and warns loudly; --off clears them', async () => {
  const r = await runCommand(ByzantineDrill, ['--node', url, '--set', 'equivocate-vote, delay,delay', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(requests.pop()?.body, { behaviours: ['equivocate-vote', 'delay'] })
  assert.deepEqual((JSON.parse(r.stdout) as DrillDto).behaviours, ['equivocate-vote', 'delay'])
  assert.match(r.stderr, /!! BYZANTINE DRILL: node 5 now misbehaves on purpose \(equivocate-vote, delay\)/)
  const off = await runCommand(ByzantineDrill, ['--node', url, '--off'])
  assert.equal(off.exitCode, 0, off.stderr)
  assert.deepEqual(requests.pop()?.body, { behaviours: [] })
  assert.match(off.stdout, /^Behaviours:\s+none \(honest\)$/m)
  assert.doesNotMatch(off.stderr, /BYZANTINE DRILL/)
})

test('byzantine drill refuses unknown behaviours locally, listing the known ones; --set with --off is a usage error', async () => {
  const r = await runCommand(ByzantineDrill, ['--node', url, '--set', 'corrupt-share,fly,teleport', '--json'])
  assert.equal(r.exitCode, 2)
  const e = (JSON.parse(r.stdout) as ErrorOut).error
  assert.equal(e.code, 'UNKNOWN_BEHAVIOUR')
  assert.match(e.message, /"fly", "teleport"/)
  assert.match(e.message, /known: corrupt-share, equivocate-vote, replay, wrong-session, drop, delay, approve-everything, etcd-tamper/)
  const both = await runCommand(ByzantineDrill, ['--node', url, '--set', 'drop', '--off', '--json'])
  assert.equal(both.exitCode, 2)
  assert.equal((JSON.parse(both.stdout) as ErrorOut).error.code, 'INVALID_FLAGS')
  assert.equal(requests.length, 0)
})

test('a node outside drill mode answers 403 DRILL_DISABLED: it comes through with its code (exit 1)', async () => {
  drillAllowed = false
  const r = await runCommand(ByzantineDrill, ['--node', url, '--set', 'drop', '--json'])
  assert.equal(r.exitCode, 1)
  const e = (JSON.parse(r.stdout) as ErrorOut).error
  assert.equal(e.code, 'DRILL_DISABLED')
  assert.match(e.message, /drill mode is off.*HTTP 403/)
  const h = await runCommand(ByzantineDrill, ['--node', url, '--off'])
  assert.match(h.stderr, /^Error \(DRILL_DISABLED\): drill mode is off/m)
})
