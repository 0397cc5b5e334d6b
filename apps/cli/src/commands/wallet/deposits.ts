import { Flags } from '@oclif/core'
import type { DepositListDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'
import { WALLET_TYPES } from '../../shared/wallet-flags'

const messages = Messages.load('wallet.deposits')

export default class WalletDeposits extends NodeCommand<DepositListDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    type: Flags.option({ options: WALLET_TYPES, summary: messages.get('flags.type.summary') })(),
    limit: Flags.integer({ min: 1, max: 1000, default: 100, summary: messages.get('flags.limit.summary') }),
  }

  async run(): Promise<DepositListDto> {
    const { flags } = await this.parse(WalletDeposits)
    const list = await this.step(messages.get('progress.scan'), () => this.client(flags.node).deposits({ type: flags.type, limit: flags.limit }))
    if (list.deposits.length === 0) {
      this.log(messages.get('none', [list.addressesScanned]))
      return list
    }
    this.log(
      renderTable(list.deposits, [
        { header: 'TXID:VOUT', get: (d) => `${d.txid}:${d.vout}` },
        { header: 'TYPE', get: (d) => d.type },
        { header: 'VALUE (sat)', get: (d) => d.valueSats },
        { header: 'CONF', get: (d) => d.confirmations },
        { header: 'BLOCK TIME', get: (d) => d.blockTime },
        { header: 'FROM', get: (d) => (d.fromWallet ? 'wallet' : 'outside') },
        { header: 'PATH', get: (d) => d.path },
        { header: 'ADDRESS', get: (d) => d.address },
      ]),
    )
    if (list.deposits.length === flags.limit) this.log(`\n${messages.get('more', [flags.limit])}`)
    return list
  }
}
