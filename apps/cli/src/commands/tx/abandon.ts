import { Args, Flags } from '@oclif/core'
import { ApiError, type AbandonDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../../shared/errors'
import { Messages } from '../../shared/messages'

const messages = Messages.load('tx.abandon')

/** The audit reason as the node accepts it: 1..500 characters after trimming; throws INVALID_REASON (exit 2). */
export function parseReason(input: string): string {
  const reason = input.trim()
  if (reason.length < 1 || reason.length > 500) throw new CliError('INVALID_REASON', messages.get('error.InvalidReason', [reason.length]), EXIT_USAGE)
  return reason
}

export default class TxAbandon extends NodeCommand<AbandonDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static args = {
    id: Args.string({ required: true, description: messages.get('args.id.description') }),
  }

  static flags = {
    reason: Flags.string({ required: true, summary: messages.get('flags.reason.summary') }),
  }

  async run(): Promise<AbandonDto> {
    const { args, flags } = await this.parse(TxAbandon)
    const reason = parseReason(flags.reason)
    let r: AbandonDto
    try {
      r = await this.step(messages.get('progress', [args.id]), () => this.client(flags.node).abandonTransaction(args.id, reason))
    } catch (err) {
      // The chain has it: say what that means for the payee (other refusals say it themselves).
      if (err instanceof ApiError && err.code === 'TX_ON_CHAIN') {
        throw new CliError(err.code, messages.get('error.TX_ON_CHAIN', [err.message]), EXIT_FAILURE, err.details)
      }
      throw err
    }
    this.log(messages.get('released', [r.released.length, r.id, r.txid, r.abandonedAt]))
    for (const outpoint of r.released) this.log(`  ${outpoint}`)
    this.log('')
    this.log(messages.get('warning', [r.warning]))
    return r
  }
}
