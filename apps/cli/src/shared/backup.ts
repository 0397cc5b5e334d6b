import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { CliError, EXIT_USAGE } from './errors'

/**
 * An encrypted backup of one node's keystore directory (`threshold-wallet nodes backup`).
 *
 * The file is a magic line, one JSON header line, then the AES-256-GCM ciphertext of the files
 * (a JSON list of path, mode and base64 content) and its 16-byte tag; the key comes from the
 * passphrase through scrypt (N 2^15, r 8, p 1) and the header is authenticated with it, so a
 * changed byte anywhere is refused. The key shares inside are already sealed by the node's
 * keystore key: the backup adds a second lock, and both are needed to use it.
 *
 * Never in a backup: presignatures (`presig/*` but the consumed ledger; one used after the
 * backup and restored with it would be signed with twice, which leaks the key share) and the
 * audit spool (entries the node had not yet written to PostgreSQL; replaying them would
 * duplicate them).
 */
export const BACKUP_MAGIC = 'threshold-wallet keystore backup v1'
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }
/** The shortest passphrase taken (a backup leaves the machine). */
export const MIN_PASSPHRASE = 12
const CONSUMED_LOG = 'presig/consumed.log'

export interface BackupHeader {
  version: 1
  createdAt: string
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string }
  cipher: 'aes-256-gcm'
  iv: string
  files: number
  bytes: number
}

interface BackupFile {
  path: string
  mode: number
  data: string
}

export interface BackupSummary {
  files: number
  bytes: number
  /** Files left out on purpose (presignatures, the audit spool). */
  skipped: string[]
}

/** Whether `rel` (a path inside the keystore, `/`-separated) is left out of every backup. */
export function excludedFromBackup(rel: string): boolean {
  if (rel.startsWith('audit-spool/')) return true
  return rel.startsWith('presig/') && rel !== CONSUMED_LOG
}

function checkPassphrase(passphrase: string): void {
  if (passphrase.length < MIN_PASSPHRASE) throw new CliError('BACKUP_PASSPHRASE_WEAK', `the backup passphrase must be at least ${MIN_PASSPHRASE} characters`, EXIT_USAGE)
}

function walk(root: string, dir = root): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    const st = statSync(p)
    if (st.isDirectory()) out.push(...walk(root, p))
    else if (st.isFile()) out.push(relative(root, p).split(sep).join('/'))
  }
  return out
}

/** The encrypted backup of keystore directory `dir`, and what went into it. */
export function createBackup(dir: string, passphrase: string, now = new Date()): { file: Buffer; summary: BackupSummary } {
  checkPassphrase(passphrase)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError('KEYSTORE_NOT_FOUND', `no keystore directory at ${dir}`, EXIT_USAGE)
  const all = walk(dir)
  if (!all.includes('keystore.json')) throw new CliError('KEYSTORE_NOT_FOUND', `${dir} is not a node keystore (no keystore.json)`, EXIT_USAGE)
  const skipped = all.filter(excludedFromBackup)
  const files: BackupFile[] = all
    .filter((p) => !excludedFromBackup(p))
    .map((p) => ({ path: p, mode: statSync(join(dir, p)).mode & 0o777, data: readFileSync(join(dir, p)).toString('base64') }))
  const plain = Buffer.from(JSON.stringify({ files }), 'utf8')
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const header: BackupHeader = {
    version: 1,
    createdAt: now.toISOString(),
    kdf: { name: 'scrypt', N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: salt.toString('base64') },
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64'),
    files: files.length,
    bytes: files.reduce((n, f) => n + Buffer.byteLength(f.data, 'base64'), 0),
  }
  const head = Buffer.from(`${BACKUP_MAGIC}\n${JSON.stringify(header)}\n`, 'utf8')
  const key = scryptSync(passphrase, salt, 32, SCRYPT)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(head)
  const body = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()])
  return { file: Buffer.concat([head, body]), summary: { files: files.length, bytes: header.bytes, skipped } }
}

/** The header of backup `file` (readable without the passphrase), or BACKUP_CORRUPT. */
export function readBackupHeader(file: Buffer): { header: BackupHeader; headLength: number } {
  const first = file.indexOf(0x0a)
  const second = first < 0 ? -1 : file.indexOf(0x0a, first + 1)
  if (first < 0 || second < 0 || file.subarray(0, first).toString('utf8') !== BACKUP_MAGIC) {
    throw new CliError('BACKUP_CORRUPT', 'not a threshold-wallet keystore backup (or not version 1)')
  }
  let header: BackupHeader
  try {
    header = JSON.parse(file.subarray(first + 1, second).toString('utf8')) as BackupHeader
  } catch {
    throw new CliError('BACKUP_CORRUPT', 'the backup header is not readable')
  }
  if (header.version !== 1 || header.cipher !== 'aes-256-gcm' || header.kdf?.name !== 'scrypt')
    throw new CliError('BACKUP_CORRUPT', 'the backup header names a format this CLI does not know')
  return { header, headLength: second + 1 }
}

/** The files of backup `file`, decrypted with `passphrase`: BACKUP_PASSPHRASE_WRONG or BACKUP_CORRUPT when it does not open. */
export function openBackup(file: Buffer, passphrase: string): { header: BackupHeader; files: BackupFile[] } {
  const { header, headLength } = readBackupHeader(file)
  const body = file.subarray(headLength)
  if (body.length < 16) throw new CliError('BACKUP_CORRUPT', 'the backup is truncated')
  const { N, r, p, salt } = header.kdf
  const key = scryptSync(passphrase, Buffer.from(salt, 'base64'), 32, { N, r, p, maxmem: SCRYPT.maxmem })
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(header.iv, 'base64'))
  decipher.setAAD(file.subarray(0, headLength))
  decipher.setAuthTag(body.subarray(body.length - 16))
  let plain: Buffer
  try {
    plain = Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()])
  } catch {
    // GCM cannot tell a wrong passphrase from a changed byte.
    throw new CliError('BACKUP_PASSPHRASE_WRONG', 'the backup does not open with this passphrase (or it was changed after it was made)')
  }
  const { files } = JSON.parse(plain.toString('utf8')) as { files: BackupFile[] }
  for (const f of files) {
    if (f.path.startsWith('/') || f.path.split('/').includes('..') || f.path === '') throw new CliError('BACKUP_CORRUPT', `the backup names an unsafe path: ${f.path}`)
  }
  return { header, files }
}

export interface RestoreSummary {
  files: number
  /** Presignature files deleted from the target (never restored, never kept next to older shares). */
  presignaturesDeleted: number
  /** Whether the consumed-presignature ledger was merged with the one already there. */
  ledgerMerged: boolean
}

/**
 * Restores backup `file` into keystore directory `dir`: an empty or missing directory, or any
 * with `force` (the node must be stopped). Every file is written beside its place then renamed
 * over it. Presignature files in `dir` are deleted; the consumed-presignature ledger becomes the
 * union of the backup's and the one already there (an id once used stays used).
 */
export function restoreBackup(file: Buffer, passphrase: string, dir: string, opts: { force?: boolean } = {}): RestoreSummary {
  const { files } = openBackup(file, passphrase)
  const existing = existsSync(dir) ? walk(dir) : []
  if (existing.length > 0 && !opts.force) {
    throw new CliError('KEYSTORE_NOT_EMPTY', `${dir} already holds ${existing.length} file(s): restore into an empty directory, or stop the node and pass --force`, EXIT_USAGE)
  }
  const ledgerHere = existsSync(join(dir, CONSUMED_LOG)) ? readFileSync(join(dir, CONSUMED_LOG), 'utf8') : null
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  for (const f of files) {
    const target = join(dir, ...f.path.split('/'))
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 })
    let data = Buffer.from(f.data, 'base64')
    if (f.path === CONSUMED_LOG && ledgerHere !== null) data = Buffer.from(unionLines(data.toString('utf8'), ledgerHere), 'utf8')
    const tmp = `${target}.restore-tmp`
    writeFileSync(tmp, data, { mode: f.mode || 0o600 })
    chmodSync(tmp, f.mode || 0o600)
    renameSync(tmp, target)
  }
  let presignaturesDeleted = 0
  const presigDir = join(dir, 'presig')
  if (existsSync(presigDir)) {
    for (const name of readdirSync(presigDir)) {
      if (`presig/${name}` === CONSUMED_LOG) continue
      rmSync(join(presigDir, name), { force: true, recursive: true })
      presignaturesDeleted++
    }
  }
  return { files: files.length, presignaturesDeleted, ledgerMerged: ledgerHere !== null && files.some((f) => f.path === CONSUMED_LOG) }
}

/** The lines of `a` then those of `b` not in `a` (each once, order kept). */
function unionLines(a: string, b: string): string {
  const seen = new Set<string>()
  const out: string[] = []
  for (const line of [...a.split('\n'), ...b.split('\n')]) {
    if (line === '' || seen.has(line)) continue
    seen.add(line)
    out.push(line)
  }
  return out.length ? `${out.join('\n')}\n` : ''
}
