import { Flags } from '@oclif/core'
import { TokenRoles, type CreatedTokenDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'

const messages = Messages.load('tokens.create')

export default class TokensCreate extends NodeCommand<CreatedTokenDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    name: Flags.string({ required: true, summary: messages.get('flags.name.summary') }),
    role: Flags.option({ options: TokenRoles, required: true, summary: messages.get('flags.role.summary') })(),
  }

  async run(): Promise<CreatedTokenDto> {
    const { flags } = await this.parse(TokensCreate)
    const created = await this.client(flags.node).createToken({ name: flags.name, role: flags.role })
    this.log(
      renderPairs([
        ['ID', created.id],
        ['Name', created.name],
        ['Role', created.role],
        ['Token', created.token],
      ]),
    )
    this.log('')
    this.log(messages.get('shownOnce'))
    return created
  }
}
