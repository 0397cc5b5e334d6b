import type { WebhookListDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'

const messages = Messages.load('webhooks.list')

export default class WebhooksList extends NodeCommand<WebhookListDto> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  async run(): Promise<WebhookListDto> {
    const { flags } = await this.parse(WebhooksList)
    const list = await this.client(flags.node).webhooks()
    if (list.webhooks.length === 0) this.log(messages.get('none'))
    else
      this.log(
        renderTable(list.webhooks, [
          { header: 'ID', get: (w) => w.id },
          { header: 'URL', get: (w) => w.url },
          { header: 'EVENTS', get: (w) => w.events.join(',') },
          { header: 'LAST SEQ', get: (w) => w.delivery.lastSeq },
          { header: 'RETRYING', get: (w) => (w.delivery.retrying ? `${w.delivery.retrying.eventId} (${w.delivery.retrying.attempts} tries)` : null) },
          { header: 'DESCRIPTION', get: (w) => w.description },
        ]),
      )
    return list
  }
}
