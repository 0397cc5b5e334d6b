import { Flags } from '@oclif/core'
import { EventFilters, type CreatedWebhookDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'

const messages = Messages.load('webhooks.add')

export default class WebhooksAdd extends NodeCommand<CreatedWebhookDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    url: Flags.string({ required: true, summary: messages.get('flags.url.summary'), helpValue: '<url>' }),
    event: Flags.option({ options: EventFilters as string[], multiple: true, summary: messages.get('flags.event.summary') })(),
    description: Flags.string({ summary: messages.get('flags.description.summary') }),
  }

  async run(): Promise<CreatedWebhookDto> {
    const { flags } = await this.parse(WebhooksAdd)
    const hook = await this.client(flags.node).createWebhook({
      url: flags.url,
      ...(flags.event?.length ? { events: flags.event as CreatedWebhookDto['events'] } : {}),
      ...(flags.description !== undefined ? { description: flags.description } : {}),
    })
    this.log(
      renderPairs([
        ['ID', hook.id],
        ['URL', hook.url],
        ['Events', hook.events.join(', ')],
        ['Secret', hook.secret],
      ]),
    )
    this.log('')
    this.log(messages.get('shownOnce'))
    return hook
  }
}
