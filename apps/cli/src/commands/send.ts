import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Flags } from '@oclif/core'
import { QuoteDto, SendRequest, TransactionDto, TransactionStateDto } from '@tw/api'
import { parseAmountSats, parseFeeRate } from '../shared/amounts'
import { NodeCommand } from '../shared/base-command'
import { CliError, EXIT_PENDING, EXIT_USAGE } from '../shared/errors'
import { Messages } from '../shared/messages'
import { renderPairs } from '../shared/table'
import { followTransaction, isNetworkError, TX_FAILED_STATES } from '../shared/transactions'
import { walletTypeFlag } from '../shared/wallet-flags'

const messages = Messages.load('send')

/** `--priority`: the confirmation target of the chain's fee estimate it stands for. */
export const PRIORITY_TARGET = { high: 1, normal: 6, low: 144 } as const

export interface SendResult {
  /** The Idempotency-Key the request was sent with (pass it again to retry this very send). */
  idempotencyKey: string
  /** True if the first POST failed on the network and was sent again with the same key. */
  retried: boolean
  /** Every state the CLI saw, in order. */
  states: TransactionStateDto[]
  transaction: TransactionDto
}

export default class Send extends NodeCommand<SendResult | QuoteDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    to: Flags.string({ required: true, summary: messages.get('flags.to.summary'), helpValue: '<address>' }),
    amount: Flags.string({ required: true, summary: messages.get('flags.amount.summary'), helpValue: '<sats>' }),
    'fee-rate': Flags.string({ summary: messages.get('flags.fee-rate.summary'), helpValue: '<sat/vB>', exclusive: ['target-blocks', 'priority'] }),
    'target-blocks': Flags.integer({ min: 1, max: 1008, summary: messages.get('flags.target-blocks.summary'), exclusive: ['fee-rate', 'priority'] }),
    priority: Flags.option({ options: ['high', 'normal', 'low'] as const, summary: messages.get('flags.priority.summary'), exclusive: ['fee-rate', 'target-blocks'] })(),
    'max-fee-rate': Flags.string({ summary: messages.get('flags.max-fee-rate.summary'), helpValue: '<sat/vB>' }),
    type: walletTypeFlag({ summary: messages.get('flags.type.summary'), default: 'segwit' }),
    'dry-run': Flags.boolean({ default: false, summary: messages.get('flags.dry-run.summary'), exclusive: ['idempotency-key'] }),
    'idempotency-key': Flags.string({ summary: messages.get('flags.idempotency-key.summary'), helpValue: '<key>' }),
    wait: Flags.boolean({ default: true, allowNo: true, summary: messages.get('flags.wait.summary') }),
    timeout: Flags.integer({ default: 300, min: 1, summary: messages.get('flags.timeout.summary'), helpValue: '<seconds>' }),
    confirmations: Flags.integer({ default: 0, min: 0, summary: messages.get('flags.confirmations.summary') }),
    'poll-interval': Flags.integer({ default: 1000, min: 10, hidden: true, summary: 'Milliseconds between status polls.' }),
  }

  async run(): Promise<SendResult | QuoteDto> {
    const { flags } = await this.parse(Send)
    // Everything the user typed is checked before anything is sent.
    const to = flags.to.trim()
    if (!to) throw new CliError('INVALID_ADDRESS', messages.get('error.EmptyAddress'), EXIT_USAGE)
    const amountSats = parseAmountSats(flags.amount)
    const feeRate = flags['fee-rate'] === undefined ? undefined : parseFeeRate(flags['fee-rate'])
    const idempotencyKey = flags['idempotency-key'] ?? randomUUID()
    if (!/^[\x21-\x7e]{1,200}$/.test(idempotencyKey)) {
      throw new CliError('INVALID_IDEMPOTENCY_KEY', messages.get('error.BadIdempotencyKey'), EXIT_USAGE)
    }
    const deadline = Date.now() + flags.timeout * 1000
    const maxFeeRate = flags['max-fee-rate'] === undefined ? undefined : parseFeeRate(flags['max-fee-rate'], '--max-fee-rate')
    const targetBlocks = flags['target-blocks'] ?? (flags.priority ? PRIORITY_TARGET[flags.priority] : undefined)
    const body: SendRequest = {
      to,
      amountSats,
      type: flags.type,
      ...(feeRate === undefined ? {} : { feeRate }),
      ...(targetBlocks === undefined ? {} : { targetBlocks }),
      ...(maxFeeRate === undefined ? {} : { maxFeeRate }),
    }
    if (flags['dry-run']) return this.dryRun(flags.node, body)
    this.warnLine(messages.get('idempotencyKey', [idempotencyKey]))

    const client = this.client(flags.node)
    let retried = false
    let tx = await this.step(messages.get('progress.submit', [amountSats, to]), async () => {
      try {
        return await client.send(body, idempotencyKey, Math.max(1000, deadline - Date.now()))
      } catch (err) {
        if (!isNetworkError(err)) throw err
        // The node may have got it: the same key makes the retry return that transaction.
        this.progress(messages.get('progress.retry', [err.message]))
        retried = true
        await sleep(Math.min(1000, flags['poll-interval']))
        return client.send(body, idempotencyKey, Math.max(1000, deadline - Date.now()))
      }
    })
    const states: TransactionStateDto[] = []
    if (flags.wait) {
      const first = tx
      tx = await this.step(messages.get('progress.follow', [tx.id]), () =>
        followTransaction(client, first, states, {
          confirmations: flags.confirmations,
          deadline,
          pollMs: flags['poll-interval'],
          progress: (s) => this.progress(s),
          unreachable: messages.get('progress.unreachable'),
          timeoutError: (t) => new CliError('TX_TIMEOUT', messages.get('error.Timeout', [t.id, t.state, flags.timeout, t.id]), EXIT_PENDING, { transaction: t }),
        }),
      )
      // Outside the step, so its progress line does not end with "failed" (a state name of its own).
      this.assertNotFailed(tx)
      this.log(
        renderPairs([
          ['Txid', tx.txid],
          ['Transaction', tx.id],
          ['State', tx.state + (tx.confirmations > 0 ? ` (${tx.confirmations} confirmation${tx.confirmations === 1 ? '' : 's'})` : '')],
          ['Amount', `${tx.amountSats} sats to ${tx.to}`],
          ['Fee', `${tx.feeSats} sats (${tx.feeRate} sat/vB)`],
          ['Vsize', `${tx.vsize} vB`],
          ['Signers', tx.signers?.length ? tx.signers.join(', ') : null],
          ['Signing mode', tx.signingMode],
          ['Idempotency key', idempotencyKey],
        ]),
      )
    } else {
      states.push(tx.state)
      this.assertNotFailed(tx)
      this.log(messages.get('accepted', [tx.id, tx.state, tx.id]))
    }
    return { idempotencyKey, retried, states, transaction: tx }
  }

  /** `--dry-run`: the node's quote, printed; nothing is reserved or sent. */
  private async dryRun(node: string, body: SendRequest): Promise<QuoteDto> {
    const q = await this.step(messages.get('progress.quote', [body.amountSats, body.to]), () => this.client(node).quote(body))
    const change = q.outputs.find((o) => o.change)
    this.log(
      renderPairs([
        ['Dry run', messages.get('dryRun')],
        ['Amount', `${q.amountSats} sats to ${q.to}`],
        ['Fee', `${q.feeSats} sats (${q.feeRate} sat/vB)`],
        ['Vsize', `${q.vsize} vB`],
        ...q.inputs.map((i, n) => [`Input ${n + 1}`, `${i.txid}:${i.vout} (${i.valueSats} sats, ${i.path})`] as [string, string]),
        ['Change', change ? `${change.valueSats} sats to ${change.address}` : messages.get('noChange')],
        ['Signing mode', q.signingMode],
        ['Wallet', `${q.type} (key ${q.keyId})`],
      ]),
    )
    return q
  }

  private assertNotFailed(tx: TransactionDto): void {
    if (!TX_FAILED_STATES.includes(tx.state)) return
    const reason = tx.error ? `${tx.error.message} (${tx.error.code})` : 'no reason given'
    throw new CliError(`TX_${tx.state.toUpperCase()}`, messages.get('error.Ended', [tx.id, tx.state, reason]), 1, { transaction: tx })
  }
}
