import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { runCommand } from '../../testing/run-command'
import CertsVerify, { CertsVerifyResult } from './verify'

const native = require('@tw/native') as typeof import('@tw/native')

const tmp = mkdtempSync(join(tmpdir(), 'tw-cli-certs-verify-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

/** A fresh 3-node cluster in its own directory (CA key alongside). */
function cluster(name: string, days = 365): string {
  const dir = join(tmp, name)
  native.generateClusterCerts(dir, 3, undefined, days)
  return dir
}

test('certs verify passes for a freshly generated cluster and prints a row per file', async () => {
  const dir = cluster('good')
  const r = await runCommand<CertsVerifyResult>(CertsVerify, ['--dir', dir])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.equal(r.stderr, '')
  const lines = r.stdout.trimEnd().split('\n')
  assert.match(lines[0], /^FILE\s+NODE\s+NOT AFTER\s+DAYS LEFT\s+STATUS$/)
  for (const f of ['ca.crt', 'node-1.crt', 'node-2.crt', 'node-3.crt'])
    assert.ok(
      lines.some((l) => l.startsWith(f) && /\sok$/.test(l)),
      f,
    )
  assert.match(lines[lines.length - 1], /^All 4 certificates valid\.$/)

  const json = await runCommand<CertsVerifyResult>(CertsVerify, ['--dir', dir, '--json'])
  assert.equal(json.exitCode, 0)
  const body = JSON.parse(json.stdout) as CertsVerifyResult
  assert.deepEqual(body, json.result)
  assert.equal(body.valid, true)
  assert.deepEqual(
    body.rows.map((x) => [x.file, x.nodeId, x.certNodeId, x.status]),
    [
      ['ca.crt', null, null, 'ok'],
      ['node-1.crt', 1, 1, 'ok'],
      ['node-2.crt', 2, 2, 'ok'],
      ['node-3.crt', 3, 3, 'ok'],
    ],
  )
  for (const row of body.rows) {
    assert.ok(row.daysLeft !== null && row.daysLeft >= 363 && row.daysLeft <= 365, String(row.daysLeft))
    assert.match(row.sha256Fingerprint ?? '', /^[0-9a-f]{64}$/)
  }
})

test('a certificate from a foreign CA is WRONG CA and the command exits 1 with CERTS_INVALID', async () => {
  const dir = cluster('foreign')
  const other = cluster('other')
  copyFileSync(join(other, 'node-3.crt'), join(dir, 'node-3.crt'))
  const r = await runCommand<CertsVerifyResult>(CertsVerify, ['--dir', dir])
  assert.equal(r.exitCode, 1)
  assert.match(r.stdout, /^node-3\.crt\s+3\s.*WRONG CA \(certificate is not signed by the cluster ca\)$/m)
  assert.match(r.stdout, /^node-2\.crt\s+2\s.*\sok$/m)
  assert.match(r.stderr, /^Error \(CERTS_INVALID\): 1 of 4 certificates invalid: node-3\.crt \(WRONG CA\)\n$/)

  const json = await runCommand(CertsVerify, ['--dir', dir, '--json'])
  assert.equal(json.exitCode, 1)
  const body = JSON.parse(json.stdout) as { error: { code: string; details: CertsVerifyResult } }
  assert.equal(body.error.code, 'CERTS_INVALID')
  assert.equal(body.error.details.valid, false)
  assert.deepEqual(
    body.error.details.rows.map((x) => x.status),
    ['ok', 'ok', 'ok', 'WRONG CA'],
  )
})

test("another node's certificate is WRONG NODE", async () => {
  const dir = cluster('swapped')
  copyFileSync(join(dir, 'node-1.crt'), join(dir, 'node-2.crt'))
  const r = await runCommand<CertsVerifyResult>(CertsVerify, ['--dir', dir, '--json'])
  assert.equal(r.exitCode, 1)
  const rows = (JSON.parse(r.stdout) as { error: { details: CertsVerifyResult } }).error.details.rows
  const row = rows.find((x) => x.file === 'node-2.crt')
  assert.equal(row?.status, 'WRONG NODE')
  assert.equal(row?.certNodeId, 1)
  assert.match(row?.detail ?? '', /is for node 1, expected node 2/)
})

test('a key that does not belong to its certificate is KEY MISMATCH', async () => {
  const dir = cluster('keys')
  copyFileSync(join(dir, 'node-1.key'), join(dir, 'node-3.key'))
  const r = await runCommand(CertsVerify, ['--dir', dir])
  assert.equal(r.exitCode, 1)
  assert.match(r.stderr, /^Error \(CERTS_INVALID\): 1 of 4 certificates invalid: node-3\.crt \(KEY MISMATCH\)\n$/)
})

test('certificates expiring within --warn-days only warn (stderr), exit 0', async () => {
  const dir = cluster('soon', 10)
  const r = await runCommand<CertsVerifyResult>(CertsVerify, ['--dir', dir, '--warn-days', '30', '--json'])
  assert.equal(r.exitCode, 0)
  const body = JSON.parse(r.stdout) as CertsVerifyResult
  assert.equal(body.valid, true)
  assert.ok(body.rows.filter((x) => x.nodeId !== null).every((x) => x.status === 'EXPIRES SOON'))
  assert.match(r.stderr, /^Warning: node-2\.crt expires in \d days .*certs renew --node 2 /m)
  const quiet = await runCommand<CertsVerifyResult>(CertsVerify, ['--dir', dir, '--warn-days', '5', '--json'])
  assert.ok(quiet.result?.rows.every((x) => x.status === 'ok'))
})

test('a directory without a CA or without node certificates is a coded one-line error', async () => {
  const r = await runCommand(CertsVerify, ['--dir', join(tmp, 'nowhere')])
  assert.equal(r.exitCode, 1)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /^Error \(CERTS_MISSING\): No cluster CA certificate at .*\n$/)
})
