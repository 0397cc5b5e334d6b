import { Flags } from '@oclif/core'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { BaseCommand } from '../../shared/base-command'
import { restoreBackup, type RestoreSummary } from '../../shared/backup'
import { CliError, EXIT_USAGE } from '../../shared/errors'
import { Messages } from '../../shared/messages'
import { backupPassphrase } from './backup'

const messages = Messages.load('nodes.restore')

export interface RestoreResult extends RestoreSummary {
  keystore: string
  backup: string
}

export default class NodesRestore extends BaseCommand<RestoreResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    in: Flags.string({ required: true, summary: messages.get('flags.in.summary'), helpValue: '<file>' }),
    keystore: Flags.string({ required: true, summary: messages.get('flags.keystore.summary'), helpValue: '<dir>' }),
    'passphrase-file': Flags.string({ summary: messages.get('flags.passphrase-file.summary'), helpValue: '<file>' }),
    force: Flags.boolean({ default: false, summary: messages.get('flags.force.summary') }),
  }

  async run(): Promise<RestoreResult> {
    const { flags } = await this.parse(NodesRestore)
    const backup = resolve(flags.in)
    if (!existsSync(backup)) throw new CliError('BACKUP_NOT_FOUND', messages.get('error.NotFound', [backup]), EXIT_USAGE)
    const passphrase = backupPassphrase(flags['passphrase-file'])
    const keystore = resolve(flags.keystore)
    const r = await this.step(messages.get('progress', [keystore]), async () => restoreBackup(readFileSync(backup), passphrase, keystore, { force: flags.force }))
    this.log(messages.get('done', [r.files, keystore]))
    if (r.presignaturesDeleted) this.log(messages.get('presignatures', [r.presignaturesDeleted]))
    this.log(messages.get('next'))
    return { ...r, keystore, backup }
  }
}
