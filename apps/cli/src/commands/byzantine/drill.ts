import { Flags } from '@oclif/core'
import { DrillBehaviours, DrillDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { parseBehaviours } from '../../shared/devnet/byzantine'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'

const messages = Messages.load('byzantine.drill')

export default class ByzantineDrill extends NodeCommand<DrillDto> {
  static summary = messages.get('summary')
  static description = messages.get('description', [DrillBehaviours.join(', ')])
  static examples = messages.lines('examples')

  static flags = {
    set: Flags.string({ summary: messages.get('flags.set.summary'), helpValue: '<behaviour,...>', exclusive: ['off'] }),
    off: Flags.boolean({ summary: messages.get('flags.off.summary'), exclusive: ['set'] }),
  }

  async run(): Promise<DrillDto> {
    const { flags } = await this.parse(ByzantineDrill)
    const client = this.client(flags.node)
    let d: DrillDto
    if (flags.set !== undefined || flags.off) {
      const behaviours = flags.off ? [] : parseBehaviours(flags.set ?? '', '--set')
      d = await this.step(messages.get('progress', [behaviours.join(',') || 'none']), () => client.setDrill(behaviours))
      if (d.behaviours.length > 0) this.warnLine(messages.get('warning', [d.nodeId, d.behaviours.join(', ')]))
    } else {
      d = await client.drill()
    }
    this.log(
      renderPairs([
        ['Node', d.nodeId],
        ['Drill mode', d.enabled ? messages.get('enabled') : messages.get('disabled')],
        ['Behaviours', d.behaviours.length > 0 ? d.behaviours.join(', ') : messages.get('honest')],
      ]),
    )
    return d
  }
}
