import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { runCommand } from '../../testing/run-command'
import CertsGenerate, { CertsGenerateResult } from './generate'

const tmp = mkdtempSync(join(tmpdir(), 'tw-cli-certs-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

test('certs generate --json writes a CA and node certificates and prints only JSON', async () => {
  const out = join(tmp, 'certs')
  const caKeyDir = join(tmp, 'ca')
  const r = await runCommand<CertsGenerateResult>(CertsGenerate, ['--out', out, '--nodes', '3', '--ca-key-dir', caKeyDir, '--days', '30', '--json'])
  assert.equal(r.exitCode, 0)
  const json = JSON.parse(r.stdout) as CertsGenerateResult
  assert.deepEqual(json, r.result)
  assert.equal(json.nodes, 3)
  // cluster: ca.crt + ca.key + 3 nodes; etcd: etcd-ca.crt + etcd-ca.key + server, root, 3 nodes, prometheus
  assert.equal(json.files.length, 1 + 1 + 3 * 2 + 2 + 6 * 2)
  for (const f of ['ca.crt', 'node-1.crt', 'node-1.key', 'node-3.crt', 'node-3.key']) assert.ok(existsSync(join(out, f)), f)
  for (const f of ['etcd-ca.crt', 'etcd-server.crt', 'etcd-server.key', 'etcd-root.crt', 'etcd-root.key', 'etcd-node-1.crt', 'etcd-node-3.key', 'etcd-prometheus.crt']) {
    assert.ok(existsSync(join(out, f)), f)
  }
  assert.ok(!existsSync(join(out, 'node-4.crt')))
  assert.ok(!existsSync(join(out, 'etcd-node-4.crt')))
  assert.ok(existsSync(join(caKeyDir, 'ca.key')))
  assert.ok(existsSync(join(caKeyDir, 'etcd-ca.key')))
  assert.ok(!existsSync(join(out, 'ca.key')) && !existsSync(join(out, 'etcd-ca.key')), 'the CA keys stay out of --out')
  assert.equal(statSync(join(out, 'node-1.key')).mode & 0o077, 0, 'node keys are private')
  assert.equal(statSync(join(out, 'etcd-node-1.key')).mode & 0o077, 0, 'etcd keys are private')
  // The etcd user is the CN of the node's etcd client certificate.
  const cert = (f: string) => new X509Certificate(readFileSync(join(out, f)))
  assert.equal(cert('etcd-node-3.crt').subject, 'CN=node-3')
  assert.equal(cert('etcd-root.crt').subject, 'CN=root')
  assert.ok(cert('etcd-node-3.crt').checkIssued(cert('etcd-ca.crt')))
  assert.ok(!cert('etcd-node-3.crt').checkIssued(cert('ca.crt')), 'etcd certificates come from the etcd CA, not the cluster CA')
  assert.equal(cert('etcd-node-3.crt').subjectAltName, undefined)
  assert.match(cert('etcd-server.crt').subjectAltName ?? '', /IP Address:127\.0\.0\.1.*DNS:localhost.*DNS:etcd1/)
})

test('certs generate refuses to overwrite a CA without --force, with one coded line', async () => {
  const out = join(tmp, 'twice')
  assert.equal((await runCommand(CertsGenerate, ['--out', out])).exitCode, 0)
  const r = await runCommand(CertsGenerate, ['--out', out])
  assert.equal(r.exitCode, 1)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /^Error \(CERTS_EXIST\): .*--force to replace it and every node certificate\n$/)
  const forced = await runCommand(CertsGenerate, ['--out', out, '--force', '--json'])
  assert.equal(forced.exitCode, 0)
})

test('bad flags exit 2 with one line; --json puts the error object on stdout', async () => {
  const missing = await runCommand(CertsGenerate, [])
  assert.equal(missing.exitCode, 2)
  assert.match(missing.stderr, /^Error \(INVALID_FLAGS\): Missing required flag out\n$/)

  const bad = await runCommand(CertsGenerate, ['--out', join(tmp, 'x'), '--nodes', '0', '--json'])
  assert.equal(bad.exitCode, 2)
  const body = JSON.parse(bad.stdout) as { error: { code: string; message: string } }
  assert.equal(body.error.code, 'INVALID_FLAGS')
  assert.doesNotMatch(body.error.message, /\n/)
  assert.ok(!existsSync(join(tmp, 'x')))
})
