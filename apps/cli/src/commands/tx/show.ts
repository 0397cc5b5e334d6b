import { Args } from '@oclif/core'
import type { TransactionDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderTransaction } from '../../shared/transactions'

const messages = Messages.load('tx.show')

export default class TxShow extends NodeCommand<TransactionDto> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  static args = {
    id: Args.string({ required: true, description: messages.get('args.id.description') }),
  }

  async run(): Promise<TransactionDto> {
    const { args, flags } = await this.parse(TxShow)
    const tx = await this.client(flags.node).transaction(args.id)
    this.log(renderTransaction(tx))
    return tx
  }
}
