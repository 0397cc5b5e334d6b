import { Flags } from '@oclif/core'
import type { AddressListDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'
import { WALLET_TYPES } from '../../shared/wallet-flags'

const messages = Messages.load('wallet.addresses')

export default class WalletAddresses extends NodeCommand<AddressListDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    type: Flags.option({ options: WALLET_TYPES, summary: messages.get('flags.type.summary') })(),
    change: Flags.boolean({ default: false, summary: messages.get('flags.change.summary') }),
    used: Flags.boolean({ summary: messages.get('flags.used.summary'), exclusive: ['unused'] }),
    unused: Flags.boolean({ summary: messages.get('flags.unused.summary'), exclusive: ['used'] }),
    limit: Flags.integer({ min: 1, max: 1000, default: 100, summary: messages.get('flags.limit.summary') }),
  }

  async run(): Promise<AddressListDto> {
    const { flags } = await this.parse(WalletAddresses)
    const used = flags.used ? true : flags.unused ? false : undefined
    const list = await this.step(messages.get('progress.scan'), () =>
      this.client(flags.node).addresses({ type: flags.type, change: flags.change || undefined, used, limit: flags.limit }),
    )
    if (list.addresses.length === 0) {
      this.log(list.issued === 0 ? messages.get('none') : messages.get('noneMatching', [list.issued]))
      return list
    }
    this.log(
      renderTable(list.addresses, [
        { header: 'ADDRESS', get: (a) => a.address },
        { header: 'TYPE', get: (a) => a.type },
        { header: 'PATH', get: (a) => a.path },
        { header: 'USED', get: (a) => (a.used ? 'yes' : 'no') },
        { header: 'TXS', get: (a) => a.txCount },
        { header: 'RECEIVED (sat)', get: (a) => a.receivedSats },
        { header: 'LABEL', get: (a) => a.label },
      ]),
    )
    return list
  }
}
