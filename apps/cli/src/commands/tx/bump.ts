import { Flags } from '@oclif/core'
import { Messages } from '../../shared/messages'
import { ReplaceCommand, type ReplaceResult } from '../../shared/replace-command'

const messages = Messages.load('tx.bump')

export default class TxBump extends ReplaceCommand {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')
  static args = ReplaceCommand.replacedArg

  static flags = {
    'fee-rate': Flags.string({ required: true, summary: messages.get('flags.fee-rate.summary'), helpValue: '<sat/vB>' }),
  }

  async run(): Promise<ReplaceResult> {
    const { args, flags } = await this.parse(TxBump)
    return this.replace('bump', args.id, flags['fee-rate'], flags)
  }
}
