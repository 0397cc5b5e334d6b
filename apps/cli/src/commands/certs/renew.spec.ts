import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, test } from 'node:test'
import { CLI_ROOT, runCommand } from '../../testing/run-command'
import CertsRenew, { CertsRenewResult } from './renew'
import CertsVerify, { CertsVerifyResult } from './verify'

const native = require('@tw/native') as typeof import('@tw/native')
const REPO = resolve(CLI_ROOT, '..', '..')

const tmp = mkdtempSync(join(tmpdir(), 'tw-cli-certs-renew-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

const fingerprint = (path: string): string => new X509Certificate(readFileSync(path)).fingerprint256.replace(/:/g, '').toLowerCase()

/** A fresh 3-node cluster; the CA key in `<name>-ca/` (offline CA) unless `caAlongside`. */
function cluster(name: string, caAlongside = false): { dir: string; caKey: string } {
  const dir = join(tmp, name)
  const caDir = caAlongside ? dir : join(tmp, `${name}-ca`)
  native.generateClusterCerts(dir, 3, caDir, 365)
  return { dir, caKey: join(caDir, 'ca.key') }
}

test('certs renew --node 2 with an offline CA key: new key and certificate, verified, old files replaced', async () => {
  const { dir, caKey } = cluster('renew')
  const oldKey = readFileSync(join(dir, 'node-2.key'), 'utf8')
  const oldFp = fingerprint(join(dir, 'node-2.crt'))
  const node1 = readFileSync(join(dir, 'node-1.crt'), 'utf8')

  const r = await runCommand<CertsRenewResult>(CertsRenew, ['--node', '2', '--dir', dir, '--ca-key', caKey, '--days', '90'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.match(r.stdout, /^Renewed the certificate of node 2\.$/m)
  assert.match(r.stdout, /^SHA-256: +[0-9a-f]{64}$/m)
  assert.match(r.stdout, /picks up the new certificate within TW_CERT_RELOAD_INTERVAL_S .*without a restart/)
  const res = r.result!
  assert.equal(res.nodeId, 2)
  assert.notEqual(res.sha256Fingerprint, oldFp)
  assert.equal(res.previousSha256Fingerprint, oldFp)
  assert.equal(res.sha256Fingerprint, fingerprint(join(dir, 'node-2.crt')))
  const days = (Date.parse(res.notAfter) - Date.now()) / 86_400_000
  assert.ok(days > 88 && days <= 90, String(days))

  const newKey = readFileSync(join(dir, 'node-2.key'), 'utf8')
  assert.notEqual(newKey, oldKey, 'a fresh key')
  assert.equal(statSync(join(dir, 'node-2.key')).mode & 0o777, 0o600)
  assert.equal(readFileSync(join(dir, 'node-1.crt'), 'utf8'), node1, 'other nodes untouched')
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('.')),
    [],
    'no temporary files left',
  )
  assert.ok(!existsSync(join(dir, 'ca.key')), 'the CA key stays where it was')

  const v = await runCommand<CertsVerifyResult>(CertsVerify, ['--dir', dir, '--json'])
  assert.equal(v.exitCode, 0, v.stdout)
  assert.ok(v.result?.rows.every((x) => x.status === 'ok'))
  assert.equal(v.result?.rows.find((x) => x.nodeId === 2)?.sha256Fingerprint, res.sha256Fingerprint)

  const json = await runCommand<CertsRenewResult>(CertsRenew, ['--node', '2', '--dir', dir, '--ca-key', caKey, '--json'])
  assert.equal(json.exitCode, 0)
  assert.deepEqual(JSON.parse(json.stdout), json.result)
  assert.equal(json.result?.previousSha256Fingerprint, res.sha256Fingerprint)
})

test('certs renew with the wrong CA key: coded error, nothing written', async () => {
  const { dir } = cluster('wrongkey', true)
  const { caKey: foreignKey } = cluster('foreign')
  const snapshot = (): Record<string, string> => Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]))
  const before = snapshot()

  const r = await runCommand(CertsRenew, ['--node', '2', '--dir', dir, '--ca-key', foreignKey])
  assert.equal(r.exitCode, 1)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /^Error \(CA_KEY_MISMATCH\): The CA key .* does not belong to the cluster CA .*; nothing was written\n$/)
  assert.deepEqual(snapshot(), before)

  const json = await runCommand(CertsRenew, ['--node', '2', '--dir', dir, '--ca-key', foreignKey, '--json'])
  assert.equal(json.exitCode, 1)
  assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'CA_KEY_MISMATCH')
  assert.deepEqual(snapshot(), before)
})

test('certs renew refuses a missing CA key, an unknown node and bad flags with one coded line', async () => {
  const { dir } = cluster('missing')
  const noKey = await runCommand(CertsRenew, ['--node', '1', '--dir', dir])
  assert.equal(noKey.exitCode, 1)
  assert.match(noKey.stderr, /^Error \(CA_KEY_MISSING\): No CA key at .*ca\.key; pass --ca-key <path>.*\n$/)

  const unknown = await runCommand(CertsRenew, ['--node', '9', '--dir', dir, '--ca-key', join(tmp, 'missing-ca', 'ca.key')])
  assert.equal(unknown.exitCode, 1)
  assert.match(unknown.stderr, /^Error \(CERTS_MISSING\): No certificate for node 9 in /)
  assert.ok(!existsSync(join(dir, 'node-9.crt')))

  const noNode = await runCommand(CertsRenew, ['--dir', dir])
  assert.equal(noNode.exitCode, 2)
  assert.match(noNode.stderr, /^Error \(INVALID_FLAGS\): Missing required flag node\n$/)
})

test('scripts/generate-certs.sh, verify-certs.sh and renew-certs.sh run the CLI and pass its exit code through', () => {
  const dir = join(tmp, 'scripts', 'certs')
  const caDir = join(tmp, 'scripts', 'ca')
  mkdirSync(join(tmp, 'scripts'))
  const sh = (script: string, ...args: string[]) => {
    const r = spawnSync('bash', [join(REPO, 'scripts', script), ...args], { encoding: 'utf8', cwd: tmp, timeout: 60_000 })
    if (r.error) throw r.error
    return r
  }

  const gen = sh('generate-certs.sh', dir, '4', '--ca-key-dir', caDir)
  assert.equal(gen.status, 0, gen.stderr)
  assert.match(gen.stdout, /^Wrote 26 files to /m)
  assert.ok(existsSync(join(dir, 'node-4.crt')) && existsSync(join(caDir, 'ca.key')) && !existsSync(join(dir, 'ca.key')))

  const oldFp = fingerprint(join(dir, 'node-2.crt'))
  const renew = sh('renew-certs.sh', '2', dir, join(caDir, 'ca.key'), '--json')
  assert.equal(renew.status, 0, renew.stdout + renew.stderr)
  const renewed = JSON.parse(renew.stdout) as CertsRenewResult
  assert.equal(renewed.previousSha256Fingerprint, oldFp)
  assert.equal(renewed.sha256Fingerprint, fingerprint(join(dir, 'node-2.crt')))

  const ok = sh('verify-certs.sh', dir)
  assert.equal(ok.status, 0, ok.stdout + ok.stderr)
  assert.match(ok.stdout, /^All 5 certificates valid\.$/m)

  // A foreign CA's certificate in place of node 4: verify fails with the CLI's exit code.
  const other = join(tmp, 'scripts', 'other')
  native.generateClusterCerts(other, 4, undefined, 365)
  renameSync(join(other, 'node-4.crt'), join(dir, 'node-4.crt'))
  const bad = sh('verify-certs.sh', dir)
  assert.equal(bad.status, 1)
  assert.match(bad.stderr, /Error \(CERTS_INVALID\): 1 of 5 certificates invalid: node-4\.crt \(WRONG CA\)/)

  const usage = sh('renew-certs.sh')
  assert.equal(usage.status, 2)
  assert.match(usage.stderr, /^usage: .*renew-certs\.sh <node-id>/)
})
