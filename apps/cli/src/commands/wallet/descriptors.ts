import type { DescriptorsDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'

const messages = Messages.load('wallet.descriptors')

export default class WalletDescriptors extends NodeCommand<DescriptorsDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  async run(): Promise<DescriptorsDto> {
    const { flags } = await this.parse(WalletDescriptors)
    const d = await this.client(flags.node).descriptors()
    if (d.descriptors.length === 0) {
      this.log(messages.get('none'))
      return d
    }
    this.log(
      d.descriptors
        .map((x) =>
          renderPairs([
            ['Type', `${x.type} (${d.network})`],
            ['Key', x.keyId],
            ['Receive', x.receive],
            ['Change', x.change],
          ]),
        )
        .join('\n\n'),
    )
    return d
  }
}
