import assert from 'node:assert/strict'
import { after, before, beforeEach, test } from 'node:test'
import type { AuditVerifyDto } from '@tw/api'
import { FakeWalletNode } from '../../testing/fake-wallet-node'
import { runCommand } from '../../testing/run-command'
import AuditVerify from './verify'

const node = new FakeWalletNode()
before(async () => void (await node.start()))
after(() => node.close())
beforeEach(() => node.reset())

test('audit verify: an intact chain exits 0 with the rows checked; --json is the node answer', async () => {
  const r = await runCommand(AuditVerify, ['--node', node.url])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.match(r.stdout, /^Audit log:\s+intact/m)
  assert.match(r.stdout, /^Rows checked:\s+120$/m)
  const j = await runCommand(AuditVerify, ['--node', node.url, '--json'])
  assert.deepEqual(JSON.parse(j.stdout) as AuditVerifyDto, { ok: true, checked: 120, firstBrokenId: null, reason: null })
})

test('audit verify: a broken chain exits 1 with AUDIT_CHAIN_BROKEN naming the first broken row', async () => {
  node.auditBrokenAt = '42'
  const r = await runCommand(AuditVerify, ['--node', node.url])
  assert.equal(r.exitCode, 1)
  assert.match(
    r.stderr.trim().split('\n').pop() ?? '',
    /^Error \(AUDIT_CHAIN_BROKEN\): The audit log's hash chain breaks after 41 intact rows, at row 42: hash does not match the row$/,
  )
  const j = await runCommand(AuditVerify, ['--node', node.url, '--json'])
  assert.equal(j.exitCode, 1)
  const e = JSON.parse(j.stdout) as { error: { code: string; details: AuditVerifyDto } }
  assert.equal(e.error.code, 'AUDIT_CHAIN_BROKEN')
  assert.equal(e.error.details.firstBrokenId, '42')
})
