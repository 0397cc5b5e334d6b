import { Flags } from '@oclif/core'
import { UtxoStatuses, type UtxoListDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderPairs, renderTable } from '../../shared/table'
import { WALLET_TYPES } from '../../shared/wallet-flags'

const messages = Messages.load('utxo.list')

export default class UtxoList extends NodeCommand<UtxoListDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    type: Flags.option({ options: WALLET_TYPES, summary: messages.get('flags.type.summary') })(),
    status: Flags.option({ options: UtxoStatuses, summary: messages.get('flags.status.summary') })(),
  }

  async run(): Promise<UtxoListDto> {
    const { flags } = await this.parse(UtxoList)
    const list = await this.client(flags.node).utxos({ type: flags.type, status: flags.status })
    if (list.utxos.length === 0) {
      this.log(flags.type || flags.status ? messages.get('noneMatching') : messages.get('none'))
      return list
    }
    this.log(
      renderTable(list.utxos, [
        { header: 'OUTPOINT', get: (u) => `${u.txid}:${u.vout}` },
        { header: 'TYPE', get: (u) => u.type },
        { header: 'VALUE (sat)', get: (u) => u.valueSats },
        { header: 'STATUS', get: (u) => u.status },
        { header: 'CONF', get: (u) => u.confirmations },
        { header: 'RESERVED BY', get: (u) => u.reservedBy },
        { header: 'PATH', get: (u) => u.path },
        { header: 'PRESIGNED', get: (u) => (u.type === 'segwit' ? (u.presigned ? 'yes' : 'no') : null) },
        { header: 'ADDRESS', get: (u) => u.address },
      ]),
    )
    this.log('')
    this.log(
      renderPairs([
        ['Spendable', `${list.totals.spendableSats} sats`],
        ['Reserved', `${list.totals.reservedSats} sats`],
        ['Unconfirmed', `${list.totals.unconfirmedSats} sats`],
        ['Tip height', list.tipHeight],
      ]),
    )
    return list
  }
}
