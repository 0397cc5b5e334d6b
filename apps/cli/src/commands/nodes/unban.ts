import { Args } from '@oclif/core'
import type { UnbanDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { CliError, EXIT_USAGE } from '../../shared/errors'
import { Messages } from '../../shared/messages'

const messages = Messages.load('nodes.unban')

/** A node id as the cluster numbers nodes: an integer 1..255; throws INVALID_NODE_ID (exit 2). */
export function parseNodeId(input: string): number {
  const id = Number(input)
  if (!/^\d+$/.test(input.trim()) || !Number.isInteger(id) || id < 1 || id > 255) {
    throw new CliError('INVALID_NODE_ID', messages.get('error.InvalidNodeId', [input]), EXIT_USAGE)
  }
  return id
}

export default class NodesUnban extends NodeCommand<UnbanDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static args = {
    id: Args.string({ required: true, description: messages.get('args.id.description') }),
  }

  async run(): Promise<UnbanDto> {
    const { args, flags } = await this.parse(NodesUnban)
    const id = parseNodeId(args.id)
    const r = await this.step(messages.get('progress', [id]), () => this.client(flags.node).unban(id))
    this.log(r.wasBanned ? messages.get('lifted', [r.nodeId, r.unbannedAt]) : messages.get('notBanned', [r.nodeId, r.unbannedAt]))
    return r
  }
}
