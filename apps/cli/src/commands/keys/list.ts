import type { KeyListDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'

const messages = Messages.load('keys.list')

export default class KeysList extends NodeCommand<KeyListDto> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  async run(): Promise<KeyListDto> {
    const { flags } = await this.parse(KeysList)
    const list = await this.client(flags.node).listKeys()
    if (list.keys.length === 0) {
      this.log(messages.get('none'))
    } else {
      this.log(
        renderTable(list.keys, [
          { header: 'ID', get: (k) => k.id },
          { header: 'PROTOCOL', get: (k) => k.protocol },
          { header: 'STATUS', get: (k) => k.status },
          { header: 'PUBLIC KEY', get: (k) => k.publicKey },
          { header: 'REPORTED BY', get: (k) => k.reportedBy.join(',') },
          { header: 'CREATED', get: (k) => k.createdAt },
        ]),
      )
    }
    return list
  }
}
