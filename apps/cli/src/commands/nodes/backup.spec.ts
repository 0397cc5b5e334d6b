import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { runCommand } from '../../testing/run-command'
import NodesBackup, { type BackupResult } from './backup'
import NodesRestore, { type RestoreResult } from './restore'

// `nodes backup` / `nodes restore` on a keystore laid out as the node writes it.
const root = mkdtempSync(join(tmpdir(), 'tw-backup-'))
const keystore = join(root, 'keystore')
const pass = join(root, 'pass')
const PASSPHRASE = 'correct horse battery staple'
const saved = { ...process.env }

function put(rel: string, data: string, mode = 0o600): void {
  mkdirSync(join(keystore, rel, '..'), { recursive: true })
  writeFileSync(join(keystore, rel), data, { mode })
}

/** Every file under `dir` with its content, `/`-separated and sorted. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string, prefix: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n)
      if (statSync(p).isDirectory()) walk(p, `${prefix}${n}/`)
      else out[`${prefix}${n}`] = readFileSync(p, 'utf8')
    }
  }
  walk(dir, '')
  return out
}

before(() => {
  put('keystore.json', '{"version":1}\n', 0o600)
  put('ecdsa-share/ecdsa-k1.sealed', 'sealed-share-bytes')
  put('frost-share/schnorr-k2.sealed', 'sealed-frost-bytes')
  put('ecdsa-aux/aux-1.sealed', 'sealed-aux')
  put('approvals/0b6f1d1e.json', '{"approved":true}')
  put('presig/ps-1.sealed', 'presignature-1')
  put('presig/ps-2.sealed', 'presignature-2')
  put('presig/consumed.log', 'ps-0\n')
  put('audit-spool/00001.json', '{"spooled":true}')
  writeFileSync(pass, `${PASSPHRASE}\n`, { mode: 0o600 })
  delete process.env.TW_BACKUP_PASSPHRASE
})
after(() => {
  process.env = saved
  rmSync(root, { recursive: true, force: true })
})

test('a backup holds the shares, aux info, approvals and the consumed ledger — never a presignature or the audit spool — and restores exactly them', async () => {
  const file = join(root, 'node3.twbackup')
  const b = await runCommand<BackupResult>(NodesBackup, ['--keystore', keystore, '--out', file, '--passphrase-file', pass, '--json'])
  assert.equal(b.exitCode, 0, b.stderr)
  assert.equal(b.result?.files, 6)
  assert.deepEqual(b.result?.skipped, ['audit-spool/00001.json', 'presig/ps-1.sealed', 'presig/ps-2.sealed'])
  assert.equal(statSync(file).mode & 0o777, 0o600)
  const raw = readFileSync(file)
  assert.ok(!raw.includes(Buffer.from('sealed-share-bytes')), 'the content is encrypted')
  assert.match(raw.subarray(0, 200).toString('utf8'), /^threshold-wallet keystore backup v1\n\{"version":1/)

  const target = join(root, 'restored')
  const r = await runCommand<RestoreResult>(NodesRestore, ['--in', file, '--keystore', target, '--passphrase-file', pass, '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(tree(target), {
    'approvals/0b6f1d1e.json': '{"approved":true}',
    'ecdsa-aux/aux-1.sealed': 'sealed-aux',
    'ecdsa-share/ecdsa-k1.sealed': 'sealed-share-bytes',
    'frost-share/schnorr-k2.sealed': 'sealed-frost-bytes',
    'keystore.json': '{"version":1}\n',
    'presig/consumed.log': 'ps-0\n',
  })
  assert.equal(statSync(join(target, 'ecdsa-share/ecdsa-k1.sealed')).mode & 0o777, 0o600)
})

test('restoring over a node that went on: its presignatures are deleted, its newer consumed ledger kept (union), and only with --force', async () => {
  const file = join(root, 'node3b.twbackup')
  process.env.TW_BACKUP_PASSPHRASE = PASSPHRASE
  assert.equal((await runCommand(NodesBackup, ['--keystore', keystore, '--out', file])).exitCode, 0)
  // The node went on after the backup: it used ps-1, has a new presignature ps-3.
  put('presig/consumed.log', 'ps-0\nps-1\n')
  rmSync(join(keystore, 'presig/ps-1.sealed'))
  put('presig/ps-3.sealed', 'presignature-3')
  const refused = await runCommand(NodesRestore, ['--in', file, '--keystore', keystore])
  assert.equal(refused.exitCode, 2)
  assert.match(refused.stderr, /KEYSTORE_NOT_EMPTY.*--force/)
  const r = await runCommand<RestoreResult>(NodesRestore, ['--in', file, '--keystore', keystore, '--force', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.equal(r.result?.ledgerMerged, true)
  assert.equal(r.result?.presignaturesDeleted, 2)
  assert.deepEqual(readdirSync(join(keystore, 'presig')), ['consumed.log'], 'no presignature survives a restore')
  assert.equal(readFileSync(join(keystore, 'presig/consumed.log'), 'utf8'), 'ps-0\nps-1\n', 'an id once used stays used')
})

test('a wrong passphrase, a changed byte, a short passphrase, no passphrase, an existing output: each a clear error, nothing written', async () => {
  process.env.TW_BACKUP_PASSPHRASE = PASSPHRASE
  const file = join(root, 'node3c.twbackup')
  assert.equal((await runCommand(NodesBackup, ['--keystore', keystore, '--out', file])).exitCode, 0)
  const again = await runCommand(NodesBackup, ['--keystore', keystore, '--out', file])
  assert.match(again.stderr, /BACKUP_EXISTS/)
  const target = join(root, 'never')
  process.env.TW_BACKUP_PASSPHRASE = 'not the passphrase at all'
  const wrong = await runCommand(NodesRestore, ['--in', file, '--keystore', target])
  assert.equal(wrong.exitCode, 1)
  assert.match(wrong.stderr, /BACKUP_PASSPHRASE_WRONG/)
  process.env.TW_BACKUP_PASSPHRASE = PASSPHRASE
  const bytes = readFileSync(file)
  bytes[bytes.length - 40] ^= 1
  const changed = join(root, 'changed.twbackup')
  writeFileSync(changed, bytes)
  assert.match((await runCommand(NodesRestore, ['--in', changed, '--keystore', target])).stderr, /BACKUP_PASSPHRASE_WRONG.*changed after it was made/)
  // The header is authenticated too: a different file count is refused.
  const text = readFileSync(file).toString('latin1').replace('"files":6', '"files":7')
  writeFileSync(changed, Buffer.from(text, 'latin1'))
  assert.match((await runCommand(NodesRestore, ['--in', changed, '--keystore', target])).stderr, /BACKUP_PASSPHRASE_WRONG/)
  writeFileSync(changed, 'hello')
  assert.match((await runCommand(NodesRestore, ['--in', changed, '--keystore', target])).stderr, /BACKUP_CORRUPT/)
  assert.equal(existsSync(target), false, 'nothing written')
  process.env.TW_BACKUP_PASSPHRASE = 'short'
  const weak = await runCommand(NodesBackup, ['--keystore', keystore, '--out', join(root, 'weak.twbackup')])
  assert.equal(weak.exitCode, 2)
  assert.match(weak.stderr, /BACKUP_PASSPHRASE_WEAK.*12 characters/)
  delete process.env.TW_BACKUP_PASSPHRASE
  assert.match((await runCommand(NodesBackup, ['--keystore', keystore, '--out', join(root, 'x.twbackup')])).stderr, /BACKUP_PASSPHRASE_MISSING/)
  assert.match((await runCommand(NodesBackup, ['--keystore', join(root, 'nope'), '--out', join(root, 'x.twbackup'), '--passphrase-file', pass])).stderr, /KEYSTORE_NOT_FOUND/)
})
