import type { TransactionListDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'

const messages = Messages.load('tx.list')

export default class TxList extends NodeCommand<TransactionListDto> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  async run(): Promise<TransactionListDto> {
    const { flags } = await this.parse(TxList)
    const list = await this.client(flags.node).transactions()
    if (list.transactions.length === 0) {
      this.log(messages.get('none'))
      return list
    }
    this.log(
      renderTable(list.transactions, [
        { header: 'ID', get: (t) => t.id },
        { header: 'STATE', get: (t) => t.state },
        { header: 'TYPE', get: (t) => t.type },
        { header: 'AMOUNT (sat)', get: (t) => t.amountSats },
        { header: 'FEE (sat)', get: (t) => t.feeSats },
        { header: 'TXID', get: (t) => t.txid },
        { header: 'CREATED', get: (t) => t.createdAt },
      ]),
    )
    return list
  }
}
