import { Args } from '@oclif/core'
import type { KeyRefreshDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'
import { refreshPairs } from './refresh'

const messages = Messages.load('keys.refresh-status')

export default class KeysRefreshStatus extends NodeCommand<KeyRefreshDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static args = {
    keyId: Args.string({ required: true, description: messages.get('args.keyId.description') }),
  }

  async run(): Promise<KeyRefreshDto> {
    const { args, flags } = await this.parse(KeysRefreshStatus)
    const result = await this.client(flags.node).keyRefresh(args.keyId)
    this.log(renderPairs(refreshPairs(result)))
    return result
  }
}
