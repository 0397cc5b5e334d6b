import type { TokenListDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'

const messages = Messages.load('tokens.list')

export default class TokensList extends NodeCommand<TokenListDto> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  async run(): Promise<TokenListDto> {
    const { flags } = await this.parse(TokensList)
    const list = await this.client(flags.node).listTokens()
    if (list.tokens.length === 0) {
      this.log(messages.get('none'))
    } else {
      this.log(
        renderTable(list.tokens, [
          { header: 'ID', get: (t) => t.id },
          { header: 'NAME', get: (t) => t.name },
          { header: 'ROLE', get: (t) => t.role },
          { header: 'CREATED', get: (t) => t.createdAt },
          { header: 'LAST USED', get: (t) => t.lastUsedAt },
          { header: 'REVOKED', get: (t) => t.revokedAt },
        ]),
      )
    }
    return list
  }
}
