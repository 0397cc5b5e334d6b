import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { ClusterStatusDto, KeyDto, KeyListDto, KeyRefreshDto } from '@tw/api'
import { JsonServer, reply, startJsonServer } from '../../testing/json-server'
import { runCommand } from '../../testing/run-command'
import ClusterStatus from '../cluster/status'
import KeysCreate from './create'
import KeysList from './list'
import KeysRefresh from './refresh'
import KeysRefreshStatus from './refresh-status'

const pending: KeyDto = { id: 'k-2', protocol: 'schnorr', status: 'pending', publicKey: null, chainCode: null, reportedBy: [], createdAt: '2025-01-01T00:00:00Z' }
const active: KeyDto = {
  id: 'k-1',
  protocol: 'ecdsa',
  status: 'active',
  publicKey: '02' + 'ab'.repeat(32),
  chainCode: 'cd'.repeat(32),
  reportedBy: [1, 2, 3, 4, 5],
  createdAt: '2025-01-01T00:00:00Z',
}
let polls = 0
let refreshPolls = 0
const refreshing = (over: Partial<KeyRefreshDto>): KeyRefreshDto => ({
  jobId: 'refresh-1',
  keyId: 'k-1',
  protocol: 'ecdsa',
  state: 'voting',
  approvedBy: [],
  reportedBy: [],
  committedBy: [],
  requestedAt: '2025-01-01T00:00:00Z',
  error: null,
  ...over,
})
let server: JsonServer
let url: string

before(async () => {
  server = await startJsonServer((req) => {
    if (req.method === 'GET' && req.url === '/api/v1/keys') {
      polls++
      // The pending key becomes active on the second poll.
      const keys = polls >= 2 ? [active, { ...pending, status: 'active' as const, publicKey: '03' + 'ef'.repeat(32), reportedBy: [1, 2, 3, 4, 5] }] : [active, pending]
      return reply(200, { keys } satisfies KeyListDto)
    }
    if (req.method === 'POST' && req.url === '/api/v1/keys') {
      const { protocol } = req.body as { protocol: string }
      if (protocol === 'ecdsa') return reply(409, { error: { code: 'KEY_EXISTS', message: 'an ecdsa key is already being generated' } })
      return reply(202, pending)
    }
    // k-1 refreshes: voting, then committing, then done; k-2's refresh fails (node 3); node 4 rejects k-3's.
    if (req.method === 'POST' && req.url === '/api/v1/keys/k-1/refresh') return reply(202, refreshing({}))
    if (req.method === 'POST' && req.url === '/api/v1/keys/k-2/refresh') return reply(202, refreshing({ keyId: 'k-2', protocol: 'schnorr' }))
    if (req.method === 'POST' && req.url === '/api/v1/keys/k-3/refresh') return reply(202, refreshing({ keyId: 'k-3', approvedBy: [1] }))
    if (req.method === 'GET' && req.url === '/api/v1/keys/k-3/refresh') {
      return reply(200, refreshing({ keyId: 'k-3', state: 'rejected', approvedBy: [1, 2, 3], error: 'node 4: TOO_SOON: the last refresh of key k-3 was approved 12 s ago' }))
    }
    if (req.method === 'POST' && req.url === '/api/v1/keys/k-9/refresh') return reply(404, { error: { code: 'NOT_FOUND', message: 'no key k-9' } })
    if (req.method === 'GET' && req.url === '/api/v1/keys/k-1/refresh') {
      refreshPolls++
      const all = [1, 2, 3, 4, 5]
      if (refreshPolls === 1) return reply(200, refreshing({ state: 'committing', approvedBy: all, reportedBy: all, committedBy: [1, 2] }))
      return reply(200, refreshing({ state: 'done', approvedBy: all, reportedBy: [1, 2, 3, 4, 5], committedBy: [1, 2, 3, 4, 5] }))
    }
    if (req.method === 'GET' && req.url === '/api/v1/keys/k-2/refresh') {
      return reply(200, refreshing({ keyId: 'k-2', protocol: 'schnorr', state: 'failed', error: 'node 3: TIMEOUT: session timed out' }))
    }
    if (req.url === '/api/v1/cluster/status') {
      const s: ClusterStatusDto = {
        nodeId: 1,
        clusterSize: 5,
        threshold: 4,
        leader: 2,
        leaderTerm: '7',
        nodes: [1, 2, 3, 4, 5].map((n) => ({ nodeId: n, up: n !== 5, apiUrl: `http://127.0.0.1:808${n}`, quicAddr: `127.0.0.1:900${n}`, lastSeen: null, banned: false })),
        nodesUp: 4,
        etcd: { endpoints: ['http://127.0.0.1:2379'], members: [{ id: 'a', name: 'etcd-1', clientUrls: ['http://127.0.0.1:2379'] }], healthy: true },
        database: { healthy: true },
        bannedNodes: [],
      }
      return reply(200, s)
    }
    return reply(404, { error: { code: 'NOT_FOUND', message: 'no route' } })
  })
  url = server.url
})
after(() => server.close())

test("keys list --json prints the node's KeyListDto", async () => {
  polls = 0
  const r = await runCommand<KeyListDto>(KeysList, ['--node', url, '--json'])
  assert.equal(r.exitCode, 0)
  assert.deepEqual(JSON.parse(r.stdout), { keys: [active, pending] })
})

test('keys list prints a table', async () => {
  polls = 0
  const r = await runCommand(KeysList, ['--node', url])
  const lines = r.stdout.trim().split('\n')
  assert.match(lines[0], /^ID\s+PROTOCOL\s+STATUS\s+PUBLIC KEY\s+REPORTED BY\s+CREATED$/)
  assert.match(lines[2], /^k-1\s+ecdsa\s+active\s+02abab/)
  assert.match(lines[3], /^k-2\s+schnorr\s+pending\s+-\s+-/)
})

test('keys create waits until the pending key is active', async () => {
  polls = 0
  const r = await runCommand<KeyDto>(KeysCreate, ['--node', url, '--protocol', 'schnorr', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  const key = JSON.parse(r.stdout) as KeyDto
  assert.equal(key.id, 'k-2')
  assert.equal(key.status, 'active')
})

test('keys create --no-wait returns the pending key', async () => {
  const r = await runCommand<KeyDto>(KeysCreate, ['--node', url, '--protocol', 'schnorr', '--no-wait', '--json'])
  assert.equal((JSON.parse(r.stdout) as KeyDto).status, 'pending')
})

test("keys create: the server's error code is the CLI's, on one line", async () => {
  const r = await runCommand(KeysCreate, ['--node', url, '--protocol', 'ecdsa'])
  assert.equal(r.exitCode, 1)
  assert.equal(r.stdout, '')
  assert.match(r.stderr.trim().split('\n').pop() ?? '', /^Error \(KEY_EXISTS\): an ecdsa key is already being generated \(HTTP 409\)$/)
})

test('keys create requires --protocol and accepts only ecdsa|schnorr', async () => {
  assert.equal((await runCommand(KeysCreate, ['--node', url])).exitCode, 2)
  const r = await runCommand(KeysCreate, ['--node', url, '--protocol', 'rsa', '--json'])
  assert.equal(r.exitCode, 2)
  assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'INVALID_FLAGS')
})

test('cluster status --json and table', async () => {
  const j = await runCommand<ClusterStatusDto>(ClusterStatus, ['--node', url, '--json'])
  assert.equal((JSON.parse(j.stdout) as ClusterStatusDto).leader, 2)
  const t = await runCommand(ClusterStatus, ['--node', url])
  assert.match(t.stdout, /Leader:\s+node 2 \(term 7\)/)
  assert.match(t.stdout, /Nodes up:\s+4\/5/)
  assert.match(t.stdout, /\n2 \(leader\)\s+yes/)
})

test('an unreachable node is NODE_UNREACHABLE, exit 1', async () => {
  const r = await runCommand(KeysList, ['--node', 'http://127.0.0.1:1', '--json'])
  assert.equal(r.exitCode, 1)
  assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'NODE_UNREACHABLE')
})

test('keys refresh follows the refresh until every node switched', async () => {
  refreshPolls = 0
  const r = await runCommand<KeyRefreshDto>(KeysRefresh, ['k-1', '--node', url, '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  const out = JSON.parse(r.stdout) as KeyRefreshDto
  assert.equal(out.state, 'done')
  assert.deepEqual(out.committedBy, [1, 2, 3, 4, 5])
  assert.ok(refreshPolls >= 2, 'it polled through committing to done')
})

test('keys refresh --no-wait returns the filed job; refresh-status shows it', async () => {
  const r = await runCommand<KeyRefreshDto>(KeysRefresh, ['k-1', '--node', url, '--no-wait', '--json'])
  assert.equal((JSON.parse(r.stdout) as KeyRefreshDto).state, 'voting')
  refreshPolls = 5
  const t = await runCommand(KeysRefreshStatus, ['k-1', '--node', url])
  assert.equal(t.exitCode, 0, t.stderr)
  assert.match(t.stdout, /State:\s+done/)
  assert.match(t.stdout, /Committed by:\s+1, 2, 3, 4, 5/)
  assert.match(t.stdout, /Approved by:\s+1, 2, 3, 4, 5/)
})

test('a rejected refresh exits 1 with REFRESH_REJECTED, naming the node and its reason', async () => {
  const r = await runCommand(KeysRefresh, ['k-3', '--node', url, '--json'])
  assert.equal(r.exitCode, 1)
  const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error
  assert.equal(err.code, 'REFRESH_REJECTED')
  assert.match(err.message, /nothing ran.*node 4: TOO_SOON/)
})

test('a failed refresh exits 1 with REFRESH_FAILED and the reason; an unknown key is NOT_FOUND', async () => {
  const r = await runCommand(KeysRefresh, ['k-2', '--node', url, '--json'])
  assert.equal(r.exitCode, 1)
  const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error
  assert.equal(err.code, 'REFRESH_FAILED')
  assert.match(err.message, /kept its shares.*node 3: TIMEOUT/)
  const missing = await runCommand(KeysRefresh, ['k-9', '--node', url, '--json'])
  assert.equal(missing.exitCode, 1)
  assert.equal((JSON.parse(missing.stdout) as { error: { code: string } }).error.code, 'NOT_FOUND')
})
