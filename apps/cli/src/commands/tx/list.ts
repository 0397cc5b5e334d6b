import { Flags } from '@oclif/core'
import type { TransactionListDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'

const messages = Messages.load('tx.list')

export const TX_STATES = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed', 'rejected', 'failed', 'expired'] as const

export default class TxList extends NodeCommand<TransactionListDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    state: Flags.option({ options: TX_STATES, summary: messages.get('flags.state.summary') })(),
    type: Flags.option({ options: ['segwit', 'taproot'] as const, summary: messages.get('flags.type.summary') })(),
    limit: Flags.integer({ min: 1, max: 500, default: 50, summary: messages.get('flags.limit.summary') }),
    since: Flags.string({ summary: messages.get('flags.since.summary'), helpValue: '<ISO time>' }),
    'external-id': Flags.string({ summary: messages.get('flags.external-id.summary'), helpValue: '<id>' }),
    cursor: Flags.string({ summary: messages.get('flags.cursor.summary'), helpValue: '<cursor>' }),
  }

  async run(): Promise<TransactionListDto> {
    const { flags } = await this.parse(TxList)
    if (flags.since !== undefined && Number.isNaN(Date.parse(flags.since))) this.error(messages.get('badSince', [flags.since]))
    const list = await this.client(flags.node).transactions({
      state: flags.state,
      type: flags.type,
      limit: flags.limit,
      since: flags.since,
      externalId: flags['external-id'],
      cursor: flags.cursor,
    })
    if (list.transactions.length === 0) {
      const filtered = flags.state || flags.type || flags.since || flags['external-id'] || flags.cursor
      this.log(filtered ? messages.get('noneMatching') : messages.get('none'))
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
    if (list.nextCursor) this.log(`\n${messages.get('more', [list.nextCursor])}`)
    return list
  }
}
