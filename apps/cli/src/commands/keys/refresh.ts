import { setTimeout as sleep } from 'node:timers/promises'
import { Args, Flags } from '@oclif/core'
import type { ApiClient, KeyRefreshDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { CliError, EXIT_PENDING } from '../../shared/errors'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'

const messages = Messages.load('keys.refresh')

/** The fields every refresh command prints. */
export function refreshPairs(r: KeyRefreshDto): [string, string | null][] {
  return [
    ['Key', r.keyId],
    ['Job', r.jobId],
    ['State', r.state],
    ['Approved by', r.approvedBy.join(', ') || '-'],
    ['Reported by', r.reportedBy.join(', ') || '-'],
    ['Committed by', r.committedBy.join(', ') || '-'],
    ['Requested', r.requestedAt],
    ...(r.error ? [['Error', r.error] as [string, string]] : []),
  ]
}

export default class KeysRefresh extends NodeCommand<KeyRefreshDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static args = {
    keyId: Args.string({ required: true, description: messages.get('args.keyId.description') }),
  }

  static flags = {
    timeout: Flags.integer({ default: 900, min: 1, summary: messages.get('flags.timeout.summary') }),
    wait: Flags.boolean({ default: true, allowNo: true, summary: messages.get('flags.wait.summary') }),
  }

  async run(): Promise<KeyRefreshDto> {
    const { args, flags } = await this.parse(KeysRefresh)
    const deadline = Date.now() + flags.timeout * 1000
    const result = await this.step(messages.get('progress', [args.keyId]), async () => {
      const client = this.client(flags.node)
      const filed = await client.refreshKey(args.keyId)
      return flags.wait ? this.waitDone(client, filed, deadline, flags.timeout) : filed
    })
    this.log(renderPairs(refreshPairs(result)))
    return result
  }

  private async waitDone(client: ApiClient, filed: KeyRefreshDto, deadline: number, timeoutS: number): Promise<KeyRefreshDto> {
    let current = filed
    while (current.state === 'voting' || current.state === 'running' || current.state === 'committing') {
      if (Date.now() > deadline) {
        throw new CliError('REFRESH_TIMEOUT', messages.get('error.Timeout', [filed.keyId, current.state, timeoutS, filed.keyId]), EXIT_PENDING)
      }
      await sleep(2000)
      current = await client.keyRefresh(filed.keyId)
      if (current.jobId !== filed.jobId) break
      this.progress(`${current.state}, approved ${current.approvedBy.length}/5, reported ${current.reportedBy.length}/5, switched ${current.committedBy.length}/5`)
    }
    if (current.state === 'rejected') throw new CliError('REFRESH_REJECTED', messages.get('error.Rejected', [filed.keyId, current.error ?? 'no reason given']))
    if (current.state === 'failed') throw new CliError('REFRESH_FAILED', messages.get('error.Failed', [filed.keyId, current.error ?? 'no reason given']))
    return current
  }
}
