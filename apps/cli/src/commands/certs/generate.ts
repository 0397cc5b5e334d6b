import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Flags } from '@oclif/core'
import { BaseCommand } from '../../shared/base-command'
import { CliError } from '../../shared/errors'
import { Messages } from '../../shared/messages'

const messages = Messages.load('certs.generate')

export interface CertsGenerateResult {
  dir: string
  nodes: number
  caKeyDir: string
  days: number
  /** Extra SANs of the etcd member certificate (besides 127.0.0.1, ::1, localhost, etcd1..etcd3). */
  etcdSans: string[]
  files: string[]
}

export default class CertsGenerate extends BaseCommand<CertsGenerateResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    out: Flags.directory({ required: true, summary: messages.get('flags.out.summary'), helpValue: '<dir>' }),
    nodes: Flags.integer({ default: 5, min: 1, max: 255, summary: messages.get('flags.nodes.summary') }),
    'ca-key-dir': Flags.directory({ summary: messages.get('flags.ca-key-dir.summary'), helpValue: '<dir>' }),
    days: Flags.integer({ default: 365, min: 1, max: 36500, summary: messages.get('flags.days.summary') }),
    force: Flags.boolean({ default: false, summary: messages.get('flags.force.summary') }),
    'etcd-san': Flags.string({ multiple: true, summary: messages.get('flags.etcd-san.summary'), helpValue: '<host|ip>' }),
  }

  async run(): Promise<CertsGenerateResult> {
    const { flags } = await this.parse(CertsGenerate)
    const dir = resolve(flags.out)
    const caKeyDir = resolve(flags['ca-key-dir'] ?? flags.out)
    if (!flags.force && existsSync(join(dir, 'ca.crt'))) throw new CliError('CERTS_EXIST', messages.get('error.Exists', [dir]))
    if (flags.force) removeCluster(dir, caKeyDir) // the engine never overwrites a CA key
    mkdirSync(dir, { recursive: true })
    mkdirSync(caKeyDir, { recursive: true, mode: 0o700 })
    const native = require('@tw/native') as typeof import('@tw/native')
    const etcdSans = flags['etcd-san'] ?? []
    const files = [
      ...native.generateClusterCerts(dir, flags.nodes, caKeyDir, flags.days).files,
      // The etcd PKI: its own CA, member, root, per-node and prometheus certificates.
      ...native.generateEtcdCerts(dir, flags.nodes, caKeyDir, flags.days, etcdSans).files,
    ]
    this.log(messages.get('done', [files.length, dir]))
    for (const f of files) this.log(`  ${f}`)
    return { dir, nodes: flags.nodes, caKeyDir, days: flags.days, etcdSans, files }
  }
}

/** Removes the previous CAs (cluster and etcd: certificates and keys) and every certificate and key they issued. */
function removeCluster(dir: string, caKeyDir: string): void {
  rmSync(join(caKeyDir, 'ca.key'), { force: true })
  rmSync(join(caKeyDir, 'etcd-ca.key'), { force: true })
  if (!existsSync(dir)) return
  for (const f of readdirSync(dir)) {
    if (f === 'ca.crt' || f === 'ca.key' || /^node-\d+\.(crt|key)$/.test(f) || /^etcd-[a-z0-9-]+\.(crt|key)$/.test(f)) rmSync(join(dir, f), { force: true })
  }
}
