import { Flags } from '@oclif/core'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { BaseCommand } from '../../shared/base-command'
import { createBackup, type BackupSummary } from '../../shared/backup'
import { CliError, EXIT_USAGE } from '../../shared/errors'
import { Messages } from '../../shared/messages'

const messages = Messages.load('nodes.backup')

export interface BackupResult extends BackupSummary {
  file: string
  keystore: string
}

/** The backup passphrase: the first line of `--passphrase-file`, else $TW_BACKUP_PASSPHRASE (never a flag value: shell history). */
export function backupPassphrase(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (file !== undefined) {
    if (!existsSync(file)) throw new CliError('BACKUP_PASSPHRASE_MISSING', messages.get('error.NoPassphraseFile', [file]), EXIT_USAGE)
    return readFileSync(file, 'utf8').split('\n')[0].replace(/\r$/, '')
  }
  const v = env.TW_BACKUP_PASSPHRASE
  if (!v) throw new CliError('BACKUP_PASSPHRASE_MISSING', messages.get('error.NoPassphrase'), EXIT_USAGE)
  return v
}

export default class NodesBackup extends BaseCommand<BackupResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    keystore: Flags.string({ required: true, summary: messages.get('flags.keystore.summary'), helpValue: '<dir>' }),
    out: Flags.string({ required: true, summary: messages.get('flags.out.summary'), helpValue: '<file>' }),
    'passphrase-file': Flags.string({ summary: messages.get('flags.passphrase-file.summary'), helpValue: '<file>' }),
    force: Flags.boolean({ default: false, summary: messages.get('flags.force.summary') }),
  }

  async run(): Promise<BackupResult> {
    const { flags } = await this.parse(NodesBackup)
    const passphrase = backupPassphrase(flags['passphrase-file'])
    const out = resolve(flags.out)
    if (existsSync(out) && !flags.force) throw new CliError('BACKUP_EXISTS', messages.get('error.Exists', [out]), EXIT_USAGE)
    const keystore = resolve(flags.keystore)
    const { file, summary } = await this.step(messages.get('progress', [keystore]), async () => createBackup(keystore, passphrase))
    writeFileSync(out, file, { mode: 0o600 })
    this.log(messages.get('done', [summary.files, summary.bytes, out]))
    if (summary.skipped.length) this.log(messages.get('skipped', [summary.skipped.length]))
    return { ...summary, file: out, keystore }
  }
}
