import { Args, Flags } from '@oclif/core'
import type { WebhookDeliveryListDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'

const messages = Messages.load('webhooks.deliveries')

export default class WebhooksDeliveries extends NodeCommand<WebhookDeliveryListDto> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  static args = {
    id: Args.string({ required: true, description: messages.get('args.id.description') }),
  }

  static flags = {
    limit: Flags.integer({ min: 1, max: 1000, default: 50, summary: messages.get('flags.limit.summary') }),
  }

  async run(): Promise<WebhookDeliveryListDto> {
    const { args, flags } = await this.parse(WebhooksDeliveries)
    const list = await this.client(flags.node).webhookDeliveries(args.id, flags.limit)
    if (list.deliveries.length === 0) this.log(messages.get('none'))
    else
      this.log(
        renderTable(list.deliveries, [
          { header: 'AT', get: (d) => d.at },
          { header: 'EVENT', get: (d) => d.eventId },
          { header: 'TYPE', get: (d) => d.eventType },
          { header: 'TRY', get: (d) => d.attempt },
          { header: 'OUTCOME', get: (d) => d.outcome },
          { header: 'HTTP', get: (d) => d.httpStatus },
          { header: 'MS', get: (d) => d.durationMs },
          { header: 'NODE', get: (d) => d.nodeId },
          { header: 'ERROR', get: (d) => d.error },
        ]),
      )
    return list
  }
}
