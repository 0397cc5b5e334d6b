import { Flags, ux } from '@oclif/core'
import { ApiError, EventFilters, type DepositDto, type EventFilter, type TransactionEventData, type WalletEventDto } from '@tw/api'
import { NodeCommand } from '../shared/base-command'
import { Messages } from '../shared/messages'

const messages = Messages.load('events')

/** A followed stream that breaks is opened again after this long (resuming after the last event). */
const RECONNECT_MS = 2000

export interface EventsResult {
  events: WalletEventDto[]
}

/** One line for people: seq, time, type and what it is about. */
export function describeEvent(e: WalletEventDto): string {
  let about = ''
  if (e.type.startsWith('transaction.')) {
    const t = e.data as TransactionEventData
    about = `${t.transactionId} ${t.type} ${t.amountSats} sats${t.txid ? ` txid ${t.txid}` : ''}${t.error ? ` (${t.error.code})` : ''}`
  } else if (e.type.startsWith('deposit.')) {
    const d = e.data as DepositDto
    about = `${d.valueSats} sats to ${d.address} in ${d.txid}:${d.vout} (${d.confirmations} conf)`
  }
  return `#${e.seq}  ${e.at}  ${e.type.padEnd(22)}  ${about}`.trimEnd()
}

export default class Events extends NodeCommand<EventsResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    type: Flags.option({ options: EventFilters as string[], multiple: true, summary: messages.get('flags.type.summary') })(),
    since: Flags.integer({ min: 0, summary: messages.get('flags.since.summary') }),
    follow: Flags.boolean({ default: true, allowNo: true, summary: messages.get('flags.follow.summary') }),
    limit: Flags.integer({ min: 1, summary: messages.get('flags.limit.summary') }),
  }

  async run(): Promise<EventsResult> {
    const { flags } = await this.parse(Events)
    const client = this.client(flags.node)
    const types = flags.type as EventFilter[] | undefined
    const collected: WalletEventDto[] = []
    // Followed without a limit, --json prints one event per line as it comes (NDJSON).
    const streaming = flags.follow && flags.limit === undefined
    let last: number | undefined = flags.since
    for (;;) {
      try {
        // The node names where a stream starts (an id-only frame): a reconnect before any event resumes there.
        const stream = client.events({ types, ...(last !== undefined ? { since: last } : {}), follow: flags.follow }, { onLastEventId: (seq) => (last = seq) })
        for await (const e of stream) {
          last = e.seq
          if (streaming && this.jsonEnabled()) ux.stdout(JSON.stringify(e))
          else {
            collected.push(e)
            if (!this.jsonEnabled()) this.log(describeEvent(e))
          }
          if (flags.limit !== undefined && collected.length >= flags.limit) return { events: collected }
        }
        if (!flags.follow) return { events: collected }
        this.warnLine(messages.get('closed', [RECONNECT_MS / 1000]))
      } catch (err) {
        // Bad input or a refused token is final; a broken stream or a node (or proxy) in the
        // middle of a restart is opened again.
        if (!flags.follow || !(err instanceof ApiError) || ![0, 502, 503, 504].includes(err.status)) throw err
        this.warnLine(messages.get('broken', [err.message, RECONNECT_MS / 1000]))
      }
      await new Promise((r) => setTimeout(r, RECONNECT_MS))
    }
  }
}
