import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { UnbanDto } from '@tw/api'
import { JsonServer, reply, startJsonServer } from '../../testing/json-server'
import { runCommand } from '../../testing/run-command'
import NodesUnban, { parseNodeId } from './unban'

/** A node's unban route: node 5 is banned once, 7 is "bad" (the node's own validation). */
const requests: string[] = []
const banned = new Set([5])
let server: JsonServer
let url: string

before(async () => {
  server = await startJsonServer((req) => {
    requests.push(`${req.method} ${req.url}`)
    const m = /^\/api\/v1\/cluster\/nodes\/([^/]+)\/unban$/.exec(req.url)
    if (req.method !== 'POST' || !m) return reply(404, { error: { code: 'NOT_FOUND', message: 'no route' } })
    const id = Number(m[1])
    if (id === 7) return reply(400, { error: { code: 'VALIDATION_FAILED', message: 'id: node 7 is not a cluster member' } })
    const wasBanned = banned.delete(id)
    return reply(200, { nodeId: id, wasBanned, unbannedAt: '2025-02-03T04:05:06.000Z' } satisfies UnbanDto)
  })
  url = server.url
})
after(() => server.close())

test('nodes unban 5 posts to the node, says it was banned and when it was lifted; --json is the UnbanDto', async () => {
  const r = await runCommand(NodesUnban, ['--node', url, '5'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.equal(requests.pop(), 'POST /api/v1/cluster/nodes/5/unban')
  assert.match(r.stdout, /^Node 5 was banned; ban lifted at 2025-02-03T04:05:06.000Z \(audited\)\.$/m)
  assert.match(r.stderr, /Unbanning node 5/)
  const j = await runCommand(NodesUnban, ['--node', url, '5', '--json'])
  assert.equal(j.exitCode, 0, j.stderr)
  assert.deepEqual(JSON.parse(j.stdout) as UnbanDto, { nodeId: 5, wasBanned: false, unbannedAt: '2025-02-03T04:05:06.000Z' })
  const t = await runCommand(NodesUnban, ['--node', url, '5'])
  assert.match(t.stdout, /^Node 5 was not banned; nothing to lift/m)
})

test('a bad node id is a local usage error (exit 2, INVALID_NODE_ID) and never reaches the node', async () => {
  const before = requests.length
  for (const bad of ['0', '256', 'abc', '1.5', '-3']) {
    const r = await runCommand(NodesUnban, ['--node', url, '--json', '--', bad])
    assert.equal(r.exitCode, 2, `${bad}: ${r.stdout}${r.stderr}`)
    const e = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error
    assert.equal(e.code, 'INVALID_NODE_ID')
    assert.match(e.message, /1\.\.255/)
  }
  const h = await runCommand(NodesUnban, ['--node', url, 'x'])
  assert.equal(h.exitCode, 2)
  assert.match(h.stderr, /^Error \(INVALID_NODE_ID\): node id must be an integer 1\.\.255, got "x"\.$/m)
  assert.equal((await runCommand(NodesUnban, ['--node', url])).exitCode, 2)
  assert.equal(requests.length, before)
  assert.equal(parseNodeId('255'), 255)
  assert.equal(parseNodeId('1'), 1)
})

test("the node's 400 comes through with its code (exit 1)", async () => {
  const r = await runCommand(NodesUnban, ['--node', url, '7', '--json'])
  assert.equal(r.exitCode, 1)
  const e = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error
  assert.equal(e.code, 'VALIDATION_FAILED')
  assert.match(e.message, /node 7 is not a cluster member.*HTTP 400/)
  const h = await runCommand(NodesUnban, ['--node', url, '7'])
  assert.match(h.stderr, /^Error \(VALIDATION_FAILED\): .*node 7/m)
})
