import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { PresignatureJobsDto, PresignatureStatusDto } from '@tw/api'
import { FakeWalletNode, PRESIG_STATUS } from '../../testing/fake-wallet-node'
import { runCommand } from '../../testing/run-command'
import PresigGenerate from './generate'
import PresigStatus from './status'

const node = new FakeWalletNode()
before(async () => void (await node.start()))
after(() => node.close())

test("presig status --json is the node's PresignatureStatusDto", async () => {
  const r = await runCommand(PresigStatus, ['--node', node.url, '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout) as PresignatureStatusDto, PRESIG_STATUS)
})

test('presig status prints coverage and ready per signer set', async () => {
  const r = await runCommand(PresigStatus, ['--node', node.url])
  assert.match(r.stdout, /^Coverage:\s+3\/4 \(75%\)$/m)
  assert.match(r.stdout, /^Preferred signers:\s+1,2,3,4$/m)
  assert.match(r.stdout, /^1,2,3,4 \(preferred\)\s+7$/m)
  assert.match(r.stdout, /^1,2,3,5\s+2$/m)
})

test('presig generate --count 3 posts {count: 3} and lists the jobs', async () => {
  const r = await runCommand(PresigGenerate, ['--node', node.url, '--count', '3', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.equal((JSON.parse(r.stdout) as PresignatureJobsDto).queued.length, 3)
  assert.deepEqual(node.calls('POST', '/api/v1/presignatures').pop()?.body, { count: 3 })
  const t = await runCommand(PresigGenerate, ['--node', node.url, '--count', '2'])
  assert.match(t.stdout, /^Queued 2 presignature job\(s\)/)
  assert.match(t.stdout, /^job-2\s+k-ecdsa\s+m\/0\/1\s+1,2,3,4$/m)
})

test('presig generate --count 0 or missing is a usage error', async () => {
  const before = node.requests.length
  const r = await runCommand(PresigGenerate, ['--node', node.url, '--count', '0', '--json'])
  assert.equal(r.exitCode, 2)
  assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'INVALID_FLAGS')
  assert.equal((await runCommand(PresigGenerate, ['--node', node.url])).exitCode, 2)
  assert.equal(node.requests.length, before)
})
