import { Flags } from '@oclif/core'
import type { AddressDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { CliError, EXIT_USAGE } from '../../shared/errors'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'
import { walletTypeFlag } from '../../shared/wallet-flags'

const messages = Messages.load('wallet.address')

export default class WalletAddress extends NodeCommand<AddressDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    type: walletTypeFlag({ summary: messages.get('flags.type.summary'), default: 'segwit' }),
    change: Flags.boolean({ default: false, summary: messages.get('flags.change.summary') }),
    label: Flags.string({ summary: messages.get('flags.label.summary'), helpValue: '<text>' }),
  }

  async run(): Promise<AddressDto> {
    const { flags } = await this.parse(WalletAddress)
    const label = flags.label?.trim()
    if (label !== undefined && (label.length < 1 || label.length > 100)) throw new CliError('INVALID_LABEL', messages.get('error.BadLabel'), EXIT_USAGE)
    const a = await this.client(flags.node).address(flags.type, flags.change, label)
    this.log(
      renderPairs([
        ['Address', a.address],
        ['Type', a.type],
        ['Network', a.network],
        ['Path', a.path],
        ['Index', a.index],
        ['Change', a.change],
        ['Key', a.keyId],
        ['Label', a.label],
      ]),
    )
    return a
  }
}
