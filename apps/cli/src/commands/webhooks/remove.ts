import { Args } from '@oclif/core'
import type { WebhookDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'

const messages = Messages.load('webhooks.remove')

export default class WebhooksRemove extends NodeCommand<WebhookDto> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  static args = {
    id: Args.string({ required: true, description: messages.get('args.id.description') }),
  }

  async run(): Promise<WebhookDto> {
    const { args, flags } = await this.parse(WebhooksRemove)
    const hook = await this.client(flags.node).deleteWebhook(args.id)
    this.log(messages.get('done', [hook.id, hook.url]))
    return hook
  }
}
