import { Args } from '@oclif/core'
import type { WebhookDeliveryDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { CliError } from '../../shared/errors'
import { Messages } from '../../shared/messages'

const messages = Messages.load('webhooks.test')

export default class WebhooksTest extends NodeCommand<WebhookDeliveryDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static args = {
    id: Args.string({ required: true, description: messages.get('args.id.description') }),
  }

  async run(): Promise<WebhookDeliveryDto> {
    const { args, flags } = await this.parse(WebhooksTest)
    const d = await this.step(messages.get('sending'), () => this.client(flags.node).testWebhook(args.id))
    if (d.outcome !== 'delivered') {
      throw new CliError('WEBHOOK_FAILED', messages.get('failed', [d.error ?? `HTTP ${d.httpStatus}`, d.durationMs]), 1, d)
    }
    this.log(messages.get('done', [d.httpStatus ?? '?', d.durationMs, d.nodeId]))
    return d
  }
}
