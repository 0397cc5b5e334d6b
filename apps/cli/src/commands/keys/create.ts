import { setTimeout as sleep } from 'node:timers/promises'
import { Flags } from '@oclif/core'
import { ApiClient, ApiError, KeyDto, KeyProtocol } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { CliError, EXIT_PENDING } from '../../shared/errors'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'

const messages = Messages.load('keys.create')

export default class KeysCreate extends NodeCommand<KeyDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    protocol: Flags.option({ options: ['ecdsa', 'schnorr'] as const, required: true, summary: messages.get('flags.protocol.summary') })(),
    timeout: Flags.integer({ default: 300, min: 1, summary: messages.get('flags.timeout.summary') }),
    wait: Flags.boolean({ default: true, allowNo: true, summary: messages.get('flags.wait.summary') }),
  }

  async run(): Promise<KeyDto> {
    const { flags } = await this.parse(KeysCreate)
    const protocol: KeyProtocol = flags.protocol
    const deadline = Date.now() + flags.timeout * 1000
    const key = await this.step(messages.get('progress', [protocol]), async () => {
      let client = this.client(flags.node)
      let created: KeyDto
      try {
        created = await client.createKey({ protocol }, flags.timeout * 1000)
      } catch (err) {
        // Only the leader starts a DKG; a follower that says so is retried on the leader.
        if (!(err instanceof ApiError && err.code === 'NOT_LEADER')) throw err
        client = await this.leaderClient(client, err)
        created = await client.createKey({ protocol }, Math.max(1000, deadline - Date.now()))
      }
      if (!flags.wait) return created
      return this.waitActive(client, created, deadline, flags.timeout)
    })
    this.log(
      renderPairs([
        ['Key', key.id],
        ['Protocol', key.protocol],
        ['Status', key.status],
        ['Public key', key.publicKey],
        ['Chain code', key.chainCode],
        ...(key.protocol === 'schnorr' ? [['Output key', key.outputKey ?? null] as [string, string | null]] : []),
        ['Reported by', key.reportedBy.join(', ')],
      ]),
    )
    return key
  }

  private async leaderClient(client: ApiClient, err: ApiError): Promise<ApiClient> {
    const status = await client.clusterStatus()
    const leader = status.nodes.find((n) => n.nodeId === status.leader)
    if (!leader?.apiUrl) throw err
    return this.client(leader.apiUrl)
  }

  private async waitActive(client: ApiClient, key: KeyDto, deadline: number, timeoutS: number): Promise<KeyDto> {
    let current = key
    while (current.status === 'pending') {
      if (Date.now() > deadline) throw new CliError('KEY_TIMEOUT', messages.get('error.Timeout', [key.id, current.status, timeoutS]), EXIT_PENDING)
      await sleep(2000)
      this.progress(`${current.status}, reported by ${current.reportedBy.length}/5`)
      const list = await client.listKeys()
      current = list.keys.find((k) => k.id === key.id) ?? current
    }
    if (current.status === 'failed') throw new CliError('DKG_FAILED', messages.get('error.Failed', [key.id, current.error ?? 'no reason given']))
    return current
  }
}
