import { Args } from '@oclif/core'
import type { TokenDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'

const messages = Messages.load('tokens.revoke')

export default class TokensRevoke extends NodeCommand<TokenDto> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  static args = {
    id: Args.string({ required: true, description: messages.get('args.id.description') }),
  }

  async run(): Promise<TokenDto> {
    const { args, flags } = await this.parse(TokensRevoke)
    const t = await this.client(flags.node).revokeToken(args.id)
    this.log(messages.get('done', [t.id, t.name, t.role, t.revokedAt ?? '?']))
    return t
  }
}
