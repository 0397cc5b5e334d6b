import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { ClusterRecoveryDto } from '@tw/api'
import { JsonServer, reply, startJsonServer } from '../../testing/json-server'
import { runCommand } from '../../testing/run-command'
import ClusterRecover from './recover'

const report = (over: Partial<ClusterRecoveryDto>): ClusterRecoveryDto => ({
  dryRun: false,
  nodeId: 2,
  keys: [{ keyId: 'schnorr-k1', protocol: 'schnorr', publicKey: '02' + 'ab'.repeat(32), claimedBy: [1, 2, 3, 4, 5], action: 'registered', reason: null }],
  addresses: [{ keyId: 'schnorr-k1', type: 'taproot', chain: 'receive', before: 0, after: 12, lastUsedOnChain: 9, lastInHistory: 11 }],
  labels: 1,
  transactions: [{ id: 'tx-1', txid: 'ab'.repeat(32), from: 'voting', to: 'failed', code: 'RECORD_LOST', message: 'nothing was paid', action: 'resolved' }],
  notRecovered: ['webhook subscriptions: add them again'],
  ...over,
})
const bodies: unknown[] = []
let mode: 'ok' | 'refused' | 'mempool' = 'ok'
let server: JsonServer
let url: string

before(async () => {
  server = await startJsonServer((req) => {
    if (req.method !== 'POST' || req.url !== '/api/v1/cluster/recover') return reply(404, { error: { code: 'NOT_FOUND', message: req.url } })
    bodies.push(req.body)
    const dryRun = (req.body as { dryRun?: boolean }).dryRun === true
    if (mode === 'refused') {
      return reply(
        200,
        report({ dryRun, keys: [{ keyId: 'ecdsa-k2', protocol: 'ecdsa', publicKey: null, claimedBy: [1, 2, 3, 4], action: 'refused', reason: 'node(s) 5 hold no share of it' }] }),
      )
    }
    if (mode === 'mempool') {
      return reply(
        200,
        report({ transactions: [{ id: 'tx-2', txid: 'cd'.repeat(32), from: 'broadcast', to: 'broadcast', code: null, message: 'in the mempool', action: 'unresolved' }] }),
      )
    }
    return reply(200, report({ dryRun, ...(dryRun ? { keys: [{ ...report({}).keys[0], action: 'would_register' as const }] } : {}) }))
  })
  url = server.url
})
after(() => server.close())

test('cluster recover --dry-run asks for a dry run and prints what would be done', async () => {
  mode = 'ok'
  bodies.length = 0
  const r = await runCommand(ClusterRecover, ['--node', url, '--dry-run'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(bodies, [{ dryRun: true }])
  assert.match(r.stdout, /^Dry run on node 2$/m)
  assert.match(r.stdout, /^schnorr-k1\s+schnorr\s+1,2,3,4,5\s+would_register\s+-$/m)
  assert.match(r.stdout, /^schnorr-k1\s+receive\s+0\s+12\s+9\s+11$/m)
  assert.match(r.stdout, /^tx-1\s+voting\s+failed RECORD_LOST\s+resolved\s+nothing was paid$/m)
  assert.match(r.stdout, /^ {2}- webhook subscriptions: add them again$/m)
})

test('cluster recover --json prints the report', async () => {
  mode = 'ok'
  bodies.length = 0
  const r = await runCommand<ClusterRecoveryDto>(ClusterRecover, ['--node', url, '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(bodies, [{ dryRun: false }])
  assert.deepEqual(JSON.parse(r.stdout), report({}))
})

test('a key not every node agrees on: exit 1, RECOVERY_INCOMPLETE naming it', async () => {
  mode = 'refused'
  const r = await runCommand(ClusterRecover, ['--node', url, '--json'])
  assert.equal(r.exitCode, 1)
  const out = JSON.parse(r.stdout) as { error: { code: string; message: string } }
  assert.equal(out.error.code, 'RECOVERY_INCOMPLETE')
  assert.match(out.error.message, /key ecdsa-k2 refused \(node\(s\) 5 hold no share of it\)/)
})

test('a send still in the mempool: exit 3 (run it again later)', async () => {
  mode = 'mempool'
  const r = await runCommand(ClusterRecover, ['--node', url])
  assert.equal(r.exitCode, 3)
  assert.match(r.stderr, /RECOVERY_INCOMPLETE/)
  assert.match(r.stderr, /send tx-2 unresolved \(in the mempool\)/)
})
