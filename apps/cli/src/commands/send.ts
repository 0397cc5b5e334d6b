import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { Flags } from '@oclif/core'
import { QuoteDto, RecipientDto, SendRequest, TransactionDto, TransactionStateDto } from '@tw/api'
import { parseFeeRate } from '../shared/amounts'
import { NodeCommand } from '../shared/base-command'
import { CliError, EXIT_USAGE } from '../shared/errors'
import { Messages } from '../shared/messages'
import { paymentFields, parseRecipients, type TypedRecipient } from '../shared/recipients'
import { renderPairs } from '../shared/table'
import { isNetworkError, TX_FAILED_STATES } from '../shared/transactions'
import { walletTypeFlag } from '../shared/wallet-flags'

const messages = Messages.load('send')

/** `--priority`: the confirmation target of the chain's fee estimate it stands for. */
export const PRIORITY_TARGET = { high: 1, normal: 6, low: 144 } as const

/** The CSV of `--csv`: a file, or standard input for `-`. */
async function readCsv(file: string): Promise<string> {
  try {
    if (file !== '-') return await readFile(file, 'utf8')
    const chunks: Buffer[] = []
    for await (const c of process.stdin) chunks.push(Buffer.from(c as Buffer))
    return Buffer.concat(chunks).toString('utf8')
  } catch (err) {
    throw new CliError('FILE_UNREADABLE', messages.get('error.CsvUnreadable', [file, (err as Error).message]), EXIT_USAGE)
  }
}

/** "50000 sats to bcrt1q…", "the maximum to bcrt1q…", "3 payments, 75000 sats" or "a consolidation of 4 coins". */
function describePayments(r: TypedRecipient[], inputs: number): string {
  if (r.length === 0) return `a consolidation of ${inputs ? `${inputs} coins` : 'every spendable coin'}`
  if (r.length > 1) return `${r.length} payments, ${r.reduce((n, x) => n + (x.amountSats as number), 0)} sats`
  return r[0].amountSats === 'max' ? `the maximum to ${r[0].to}` : `${r[0].amountSats} sats to ${r[0].to}`
}

/** The Amount line of one payment, a Total line and one line per recipient of a batch, or what a consolidation keeps. */
function paymentLines(recipients: RecipientDto[], total: number, outputs: { address: string | null; valueSats: number; change: boolean }[]): [string, string][] {
  if (recipients.length === 0) return [['Consolidated', outputs.map((o) => `${o.valueSats} sats back to ${o.address}`).join(', ')]]
  if (recipients.length <= 1) return [['Amount', `${total} sats to ${recipients[0]?.address ?? '-'}`]]
  return [
    ['Total', `${total} sats to ${recipients.length} recipients`],
    ...recipients.map((r, i) => [`Payment ${i + 1}`, `${r.amountSats} sats to ${r.address}`] as [string, string]),
  ]
}

/** `--input <txid>:<vout>`: a coin to spend (coin control). */
function parseOutpoint(text: string): { txid: string; vout: number } {
  const m = /^([0-9a-fA-F]{64}):(\d{1,6})$/.exec(text.trim())
  if (!m) throw new CliError('INVALID_INPUT', messages.get('error.BadInput', [text]), EXIT_USAGE)
  return { txid: m[1].toLowerCase(), vout: Number(m[2]) }
}

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
    to: Flags.string({ multiple: true, summary: messages.get('flags.to.summary'), helpValue: '<address>[:<sats>]' }),
    amount: Flags.string({ summary: messages.get('flags.amount.summary'), helpValue: '<sats>|max' }),
    csv: Flags.string({ summary: messages.get('flags.csv.summary'), helpValue: '<file>|-' }),
    'subtract-fee': Flags.boolean({ default: false, summary: messages.get('flags.subtract-fee.summary') }),
    input: Flags.string({ multiple: true, summary: messages.get('flags.input.summary'), helpValue: '<txid>:<vout>' }),
    consolidate: Flags.boolean({ default: false, summary: messages.get('flags.consolidate.summary'), exclusive: ['to', 'amount', 'csv', 'subtract-fee'] }),
    memo: Flags.string({ summary: messages.get('flags.memo.summary'), helpValue: '<text>' }),
    'external-id': Flags.string({ summary: messages.get('flags.external-id.summary'), helpValue: '<id>' }),
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

  /** Set by `utxo consolidate`: every run is a consolidation. */
  static consolidating = false

  async run(): Promise<SendResult | QuoteDto> {
    const command = this.constructor as typeof Send
    const { flags } = await this.parse(command)
    flags.consolidate ||= command.consolidating
    // Everything the user typed is checked before anything is sent.
    const csv = flags.csv === undefined ? undefined : { name: flags.csv === '-' ? 'stdin' : flags.csv, text: await readCsv(flags.csv) }
    const recipients = flags.consolidate ? [] : parseRecipients({ to: flags.to ?? [], amount: flags.amount, csv })
    const inputs = flags.input?.map(parseOutpoint)
    const memo = flags.memo?.trim()
    if (memo !== undefined && (memo.length < 1 || memo.length > 500)) throw new CliError('INVALID_MEMO', messages.get('error.BadMemo'), EXIT_USAGE)
    const externalId = flags['external-id']
    if (externalId !== undefined && !/^[\x21-\x7e]{1,200}$/.test(externalId)) {
      throw new CliError('INVALID_EXTERNAL_ID', messages.get('error.BadExternalId'), EXIT_USAGE)
    }
    const feeRate = flags['fee-rate'] === undefined ? undefined : parseFeeRate(flags['fee-rate'])
    const idempotencyKey = flags['idempotency-key'] ?? randomUUID()
    if (!/^[\x21-\x7e]{1,200}$/.test(idempotencyKey)) {
      throw new CliError('INVALID_IDEMPOTENCY_KEY', messages.get('error.BadIdempotencyKey'), EXIT_USAGE)
    }
    const deadline = Date.now() + flags.timeout * 1000
    const maxFeeRate = flags['max-fee-rate'] === undefined ? undefined : parseFeeRate(flags['max-fee-rate'], '--max-fee-rate')
    const targetBlocks = flags['target-blocks'] ?? (flags.priority ? PRIORITY_TARGET[flags.priority] : undefined)
    const body: SendRequest = {
      ...(flags.consolidate ? { consolidate: true } : paymentFields(recipients)),
      ...(inputs ? { inputs } : {}),
      type: flags.type,
      ...(flags['subtract-fee'] ? { subtractFeeFromAmount: true } : {}),
      ...(memo === undefined ? {} : { memo }),
      ...(externalId === undefined ? {} : { externalId }),
      ...(feeRate === undefined ? {} : { feeRate }),
      ...(targetBlocks === undefined ? {} : { targetBlocks }),
      ...(maxFeeRate === undefined ? {} : { maxFeeRate }),
    }
    const what = describePayments(recipients, inputs?.length ?? 0)
    if (flags['dry-run']) return this.dryRun(flags.node, body, what)
    this.warnLine(messages.get('idempotencyKey', [idempotencyKey]))

    const client = this.client(flags.node)
    let retried = false
    let tx = await this.step(messages.get('progress.submit', [what]), async () => {
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
      tx = await this.followAccepted(client, tx, states, flags, deadline, messages)
      // Outside the step, so its progress line does not end with "failed" (a state name of its own).
      this.assertNotFailed(tx)
      this.log(
        renderPairs([
          ['Txid', tx.txid],
          ['Transaction', tx.id],
          ['State', tx.state + (tx.confirmations > 0 ? ` (${tx.confirmations} confirmation${tx.confirmations === 1 ? '' : 's'})` : '')],
          ...paymentLines(tx.recipients, tx.amountSats, tx.outputs),
          ['Fee', `${tx.feeSats} sats (${tx.feeRate} sat/vB)`],
          ['Vsize', `${tx.vsize} vB`],
          ['Signers', tx.signers?.length ? tx.signers.join(', ') : null],
          ['Signing mode', tx.signingMode],
          ['Memo', tx.memo],
          ['External id', tx.externalId],
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
  private async dryRun(node: string, body: SendRequest, what: string): Promise<QuoteDto> {
    const q = await this.step(messages.get('progress.quote', [what]), () => this.client(node).quote(body))
    const change = q.outputs.find((o) => o.change)
    this.log(
      renderPairs([
        ['Dry run', messages.get('dryRun')],
        ...paymentLines(q.recipients, q.amountSats, q.outputs),
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
