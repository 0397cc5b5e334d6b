import { X509Certificate, createPrivateKey } from 'node:crypto'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { Flags } from '@oclif/core'
import { BaseCommand } from '../../shared/base-command'
import { CliError, EXIT_FAILURE } from '../../shared/errors'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'

const messages = Messages.load('certs.verify')

/** `ok` and `EXPIRES SOON` are valid; every other status makes the command fail. */
export type CertStatus = 'ok' | 'EXPIRES SOON' | 'EXPIRED' | 'NOT YET VALID' | 'WRONG CA' | 'WRONG NODE' | 'KEY MISMATCH' | 'INVALID'

export interface CertRow {
  /** Path relative to --dir (absolute when outside it). */
  file: string
  /** Node id the file name says (null for the CA). */
  nodeId: number | null
  /** Node id the certificate names, when it could be read. */
  certNodeId: number | null
  notBefore: string | null
  notAfter: string | null
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number | null
  status: CertStatus
  /** SHA-256 of the DER, hex (lower case, no colons). */
  sha256Fingerprint: string | null
  /** Why the status is not ok. */
  detail: string | null
}

export interface CertsVerifyResult {
  dir: string
  ca: string
  warnDays: number
  valid: boolean
  rows: CertRow[]
}

const DAY_S = 86_400
const VALID: readonly CertStatus[] = ['ok', 'EXPIRES SOON']

export default class CertsVerify extends BaseCommand<CertsVerifyResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    dir: Flags.directory({ default: 'certs', summary: messages.get('flags.dir.summary'), helpValue: '<dir>' }),
    ca: Flags.file({ summary: messages.get('flags.ca.summary'), helpValue: '<ca.crt>' }),
    'warn-days': Flags.integer({ default: 30, min: 0, max: 36500, summary: messages.get('flags.warn-days.summary') }),
  }

  async run(): Promise<CertsVerifyResult> {
    const { flags } = await this.parse(CertsVerify)
    const dir = resolve(flags.dir)
    const caPath = resolve(flags.ca ?? join(dir, 'ca.crt'))
    if (!existsSync(caPath)) throw new CliError('CERTS_MISSING', messages.get('error.NoCa', [caPath, flags.dir]))
    const nodeFiles = existsSync(dir)
      ? readdirSync(dir)
          .map((f) => /^node-(\d+)\.crt$/.exec(f))
          .filter((m): m is RegExpExecArray => m !== null)
          .map((m) => ({ file: m[0], id: Number(m[1]) }))
          .sort((a, b) => a.id - b.id)
      : []
    if (nodeFiles.length === 0) throw new CliError('CERTS_MISSING', messages.get('error.NoNodes', [dir]))

    const now = Date.now() / 1000
    const caPem = readFileSync(caPath, 'utf8')
    const rows = [checkCa(caPem, display(dir, caPath), now, flags['warn-days'])]
    for (const n of nodeFiles) rows.push(checkNode(caPem, dir, n.file, n.id, now, flags['warn-days']))

    this.log(
      renderTable(rows, [
        { header: 'FILE', get: (r) => r.file },
        { header: 'NODE', get: (r) => (r.nodeId === null ? 'CA' : r.nodeId) },
        { header: 'NOT AFTER', get: (r) => r.notAfter },
        { header: 'DAYS LEFT', get: (r) => r.daysLeft },
        { header: 'STATUS', get: (r) => r.status + (r.detail ? ` (${r.detail})` : '') },
      ]),
    )
    for (const r of rows.filter((r) => r.status === 'EXPIRES SOON')) {
      const fix = r.nodeId === null ? 'threshold-wallet certs generate --force' : `threshold-wallet certs renew --node ${r.nodeId} --dir ${flags.dir}`
      this.warnLine(messages.get('warn.ExpiresSoon', [r.file, r.daysLeft ?? 0, r.notAfter ?? '', fix]))
    }
    const bad = rows.filter((r) => !VALID.includes(r.status))
    const result: CertsVerifyResult = { dir, ca: caPath, warnDays: flags['warn-days'], valid: bad.length === 0, rows }
    if (bad.length > 0) {
      const list = bad.map((r) => `${r.file} (${r.status})`).join(', ')
      throw new CliError('CERTS_INVALID', messages.get('error.Invalid', [bad.length, rows.length, list]), EXIT_FAILURE, result)
    }
    this.log(messages.get('ok', [rows.length]))
    return result
  }
}

function display(dir: string, path: string): string {
  const rel = relative(dir, path)
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel
}

interface Facts {
  certNodeId: number | null
  notBefore: number
  notAfter: number
  isCa: boolean
  sha256Fingerprint: string
}

/** What the certificate says about itself (no trust decision: that is the engine's). */
function readFacts(pem: string): Facts {
  const x = new X509Certificate(pem)
  const san = /DNS:node-(\d+)\.tw\b/.exec(x.subjectAltName ?? '')
  return {
    certNodeId: san ? Number(san[1]) : null,
    notBefore: Date.parse(x.validFrom) / 1000,
    notAfter: Date.parse(x.validTo) / 1000,
    isCa: x.ca,
    sha256Fingerprint: x.fingerprint256.replace(/:/g, '').toLowerCase(),
  }
}

function row(file: string, nodeId: number | null, f: Facts | null, now: number, status: CertStatus, detail: string | null): CertRow {
  return {
    file,
    nodeId,
    certNodeId: f?.certNodeId ?? null,
    notBefore: f ? iso(f.notBefore) : null,
    notAfter: f ? iso(f.notAfter) : null,
    daysLeft: f ? Math.floor((f.notAfter - now) / DAY_S) : null,
    status,
    sha256Fingerprint: f?.sha256Fingerprint ?? null,
    detail,
  }
}

function iso(unix: number): string {
  return new Date(unix * 1000).toISOString().replace(/\.000Z$/, 'Z')
}

function timeStatus(f: Facts, now: number, warnDays: number): CertStatus {
  if (now > f.notAfter) return 'EXPIRED'
  if (now < f.notBefore) return 'NOT YET VALID'
  return f.notAfter - now < warnDays * DAY_S ? 'EXPIRES SOON' : 'ok'
}

function checkCa(pem: string, file: string, now: number, warnDays: number): CertRow {
  let f: Facts
  try {
    f = readFacts(pem)
  } catch (e) {
    return row(file, null, null, now, 'INVALID', (e as Error).message)
  }
  if (!f.isCa) return row(file, null, f, now, 'INVALID', messages.get('detail.NotCa'))
  return row(file, null, f, now, timeStatus(f, now, warnDays), null)
}

/** Maps the engine's verification failure (BAD_ARGUMENT, one message per reason) to a status. */
function statusOf(message: string): CertStatus {
  if (/not signed by the cluster ca/i.test(message)) return 'WRONG CA'
  if (/is for node \d+, expected node/i.test(message)) return 'WRONG NODE'
  if (/expired at/i.test(message)) return 'EXPIRED'
  if (/not yet valid/i.test(message)) return 'NOT YET VALID'
  return 'INVALID'
}

function checkNode(caPem: string, dir: string, file: string, nodeId: number, now: number, warnDays: number): CertRow {
  const pem = readFileSync(join(dir, file), 'utf8')
  let f: Facts | null = null
  try {
    f = readFacts(pem)
  } catch {
    // unreadable: the engine says why below
  }
  const native = require('@tw/native') as typeof import('@tw/native')
  try {
    native.verifyNodeCertificate(caPem, pem, nodeId)
  } catch (e) {
    const message = String((e as Error).message ?? e)
    return row(file, nodeId, f, now, statusOf(message), message)
  }
  const keyFile = `node-${nodeId}.key`
  const keyMismatch = f !== null && keyBelongs(pem, join(dir, keyFile)) === false
  if (keyMismatch) return row(file, nodeId, f, now, 'KEY MISMATCH', messages.get('detail.KeyMismatch', [keyFile]))
  return row(file, nodeId, f, now, f ? timeStatus(f, now, warnDays) : 'ok', null)
}

/** Whether the key file belongs to the certificate; undefined when absent or unreadable (keys live on their node's host). */
function keyBelongs(certPem: string, keyPath: string): boolean | undefined {
  let keyPem: string
  try {
    keyPem = readFileSync(keyPath, 'utf8')
  } catch {
    return undefined
  }
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))
  } catch {
    return false
  }
}
