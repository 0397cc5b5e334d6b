import { X509Certificate } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Flags } from '@oclif/core'
import { BaseCommand } from '../../shared/base-command'
import { CliError } from '../../shared/errors'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'

const messages = Messages.load('certs.renew')

export interface CertsRenewResult {
  dir: string
  nodeId: number
  caKey: string
  days: number
  files: string[]
  notBefore: string
  notAfter: string
  sha256Fingerprint: string
  previousSha256Fingerprint: string
}

type Native = typeof import('@tw/native')

export default class CertsRenew extends BaseCommand<CertsRenewResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    node: Flags.integer({ required: true, min: 1, max: 65535, summary: messages.get('flags.node.summary'), helpValue: '<id>' }),
    dir: Flags.directory({ default: 'certs', summary: messages.get('flags.dir.summary'), helpValue: '<dir>' }),
    'ca-key': Flags.file({ summary: messages.get('flags.ca-key.summary'), helpValue: '<path>' }),
    days: Flags.integer({ default: 365, min: 1, max: 36500, summary: messages.get('flags.days.summary') }),
  }

  async run(): Promise<CertsRenewResult> {
    const { flags } = await this.parse(CertsRenew)
    const nodeId = flags.node
    const dir = resolve(flags.dir)
    const caCert = join(dir, 'ca.crt')
    const certFile = join(dir, `node-${nodeId}.crt`)
    const caKey = resolve(flags['ca-key'] ?? join(dir, 'ca.key'))
    if (!existsSync(caCert)) throw new CliError('CERTS_MISSING', messages.get('error.NoCa', [caCert, flags.dir]))
    if (!existsSync(certFile)) throw new CliError('CERTS_MISSING', messages.get('error.NoNodeCert', [nodeId, dir, certFile]))
    if (!existsSync(caKey)) throw new CliError('CA_KEY_MISSING', messages.get('error.NoCaKey', [caKey]))

    const previous = fingerprint(readFileSync(certFile, 'utf8'))
    const native = require('@tw/native') as Native
    let files: string[]
    try {
      files = native.renewNodeCertificate(dir, nodeId, caKey, flags.days).files
    } catch (e) {
      const message = String((e as Error).message ?? e)
      if (/does not match ca certificate/i.test(message)) {
        throw new CliError('CA_KEY_MISMATCH', messages.get('error.CaKeyMismatch', [caKey, caCert]))
      }
      throw e
    }

    const pem = readFileSync(certFile, 'utf8')
    let info: ReturnType<Native['verifyNodeCertificate']>
    try {
      info = native.verifyNodeCertificate(readFileSync(caCert, 'utf8'), pem, nodeId)
    } catch (e) {
      throw new CliError('CERT_NOT_VERIFIED', messages.get('error.NotVerified', [nodeId, String((e as Error).message ?? e)]))
    }
    const result: CertsRenewResult = {
      dir,
      nodeId,
      caKey,
      days: flags.days,
      files,
      notBefore: iso(info.notBefore),
      notAfter: iso(info.notAfter),
      sha256Fingerprint: info.sha256Fingerprint.toLowerCase(),
      previousSha256Fingerprint: previous,
    }
    this.log(messages.get('done', [nodeId]))
    this.log(
      renderPairs([
        ['Certificate', certFile],
        ['Key', join(dir, `node-${nodeId}.key`)],
        ['Not before', result.notBefore],
        ['Not after', result.notAfter],
        ['SHA-256', result.sha256Fingerprint],
        ['Previous SHA-256', result.previousSha256Fingerprint],
      ]),
    )
    this.log(messages.get('reload', [nodeId]))
    return result
  }
}

function fingerprint(pem: string): string {
  try {
    return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase()
  } catch {
    return ''
  }
}

function iso(unix: number): string {
  return new Date(unix * 1000).toISOString().replace(/\.000Z$/, 'Z')
}
