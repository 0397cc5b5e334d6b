import { Args, Flags } from '@oclif/core'
import type { TransactionDto, TransactionStateDto } from '@tw/api'
import { parseFeeRate } from './amounts'
import { NodeCommand } from './base-command'
import { CliError } from './errors'
import { Messages } from './messages'
import { renderPairs } from './table'
import { TX_FAILED_STATES } from './transactions'

const messages = Messages.load('tx.replace')

/** What `tx bump` and `tx cancel` print with --json. */
export interface ReplaceResult {
  /** The send it replaces. */
  replaces: string
  /** Every state of the replacement the CLI saw, in order. */
  states: TransactionStateDto[]
  transaction: TransactionDto
}

/**
 * `tx bump` and `tx cancel`: a BIP125 replacement of a broadcast send, proposed on the node,
 * then followed like a send until broadcast (or --confirmations).
 */
export abstract class ReplaceCommand extends NodeCommand<ReplaceResult> {
  /** The argument of both commands (each declares it: oclif reads a command's own `args`). */
  static replacedArg = {
    id: Args.string({ required: true, description: messages.get('args.id.description') }),
  }

  static baseFlags = {
    ...NodeCommand.baseFlags,
    wait: Flags.boolean({ default: true, allowNo: true, summary: messages.get('flags.wait.summary') }),
    timeout: Flags.integer({ default: 300, min: 1, summary: messages.get('flags.timeout.summary'), helpValue: '<seconds>' }),
    confirmations: Flags.integer({ default: 0, min: 0, summary: messages.get('flags.confirmations.summary') }),
    'poll-interval': Flags.integer({ default: 1000, min: 10, hidden: true, summary: 'Milliseconds between status polls.' }),
  }

  protected async replace(
    kind: 'bump' | 'cancel',
    id: string,
    feeRateText: string | undefined,
    flags: { node: string; wait: boolean; timeout: number; confirmations: number; 'poll-interval': number },
  ): Promise<ReplaceResult> {
    const feeRate = feeRateText === undefined ? undefined : parseFeeRate(feeRateText)
    const deadline = Date.now() + flags.timeout * 1000
    const client = this.client(flags.node)
    let tx = await this.step(messages.get(`progress.${kind}`, [id]), () => client.replaceTransaction(id, kind, feeRate === undefined ? {} : { feeRate }))
    const states: TransactionStateDto[] = []
    if (flags.wait) {
      tx = await this.followAccepted(client, tx, states, flags, deadline, messages)
    } else {
      states.push(tx.state)
    }
    if (TX_FAILED_STATES.includes(tx.state)) {
      const reason = tx.error ? `${tx.error.message} (${tx.error.code})` : 'no reason given'
      throw new CliError(`TX_${tx.state.toUpperCase()}`, messages.get('error.Ended', [tx.id, tx.state, reason]), 1, { transaction: tx })
    }
    const back = tx.outputs.find((o) => o.change)
    this.log(
      renderPairs([
        [kind === 'bump' ? 'Fee bump' : 'Cancellation', tx.id],
        ['Replaces', id],
        ['State', tx.state + (tx.confirmations > 0 ? ` (${tx.confirmations} confirmation${tx.confirmations === 1 ? '' : 's'})` : '')],
        ['Txid', tx.txid],
        ['Fee', `${tx.feeSats} sats (${tx.feeRate} sat/vB)`],
        kind === 'bump' ? ['Pays', `${tx.amountSats} sats, as before`] : ['Back to the wallet', back ? `${back.valueSats} sats to ${back.address}` : null],
      ]),
    )
    if (!flags.wait) this.log(messages.get('accepted', [tx.id]))
    return { replaces: id, states, transaction: tx }
  }
}
