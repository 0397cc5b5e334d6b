import { Flags } from '@oclif/core'
import type { ClusterRecoveryDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { CliError, EXIT_PENDING } from '../../shared/errors'
import { Messages } from '../../shared/messages'
import { renderTable, type Column } from '../../shared/table'

const messages = Messages.load('cluster.recover')

/** A recovery scans the chain for every key's addresses: minutes on a long history. */
const RECOVER_TIMEOUT_MS = 30 * 60_000

export default class ClusterRecover extends NodeCommand<ClusterRecoveryDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    'dry-run': Flags.boolean({ default: false, summary: messages.get('flags.dry-run.summary') }),
  }

  async run(): Promise<ClusterRecoveryDto> {
    const { flags } = await this.parse(ClusterRecover)
    const dryRun = flags['dry-run']
    const r = await this.step(messages.get(dryRun ? 'progress.dry' : 'progress'), () => this.client(flags.node).recoverCluster({ dryRun }, RECOVER_TIMEOUT_MS))
    this.log(`${dryRun ? 'Dry run on' : 'Recovered through'} node ${r.nodeId}`)
    this.section(
      'Keys',
      r.keys,
      [
        { header: 'KEY', get: (k) => k.keyId },
        { header: 'PROTOCOL', get: (k) => k.protocol },
        { header: 'HELD BY', get: (k) => k.claimedBy.join(',') },
        { header: 'ACTION', get: (k) => k.action },
        { header: 'REASON', get: (k) => k.reason },
      ],
      'no node has published a share statement yet (are all nodes up?)',
    )
    this.section(
      'Address indexes (next index)',
      r.addresses,
      [
        { header: 'KEY', get: (a) => a.keyId },
        { header: 'CHAIN', get: (a) => a.chain },
        { header: 'BEFORE', get: (a) => a.before },
        { header: 'AFTER', get: (a) => a.after },
        { header: 'LAST USED ON CHAIN', get: (a) => a.lastUsedOnChain },
        { header: 'LAST IN HISTORY', get: (a) => a.lastInHistory },
      ],
      'none',
    )
    this.log(`Address labels ${dryRun ? 'to put back' : 'put back'}: ${r.labels}`)
    this.section(
      'Unfinished sends',
      r.transactions,
      [
        { header: 'ID', get: (t) => t.id },
        { header: 'FROM', get: (t) => t.from },
        { header: 'TO', get: (t) => t.to + (t.code ? ` ${t.code}` : '') },
        { header: 'ACTION', get: (t) => t.action },
        { header: 'WHY', get: (t) => t.message },
      ],
      'none lost',
    )
    this.log('')
    this.log('Not recovered (redo by hand):')
    for (const line of r.notRecovered) this.log(`  - ${line}`)
    const refused = r.keys.filter((k) => k.action === 'refused').map((k) => `key ${k.keyId} refused (${k.reason})`)
    const open = r.transactions.filter((t) => t.action === 'unresolved').map((t) => `send ${t.id} unresolved (${t.message})`)
    if (refused.length + open.length > 0)
      throw new CliError('RECOVERY_INCOMPLETE', messages.get('error.Incomplete', [[...refused, ...open].join('; ')]), refused.length ? 1 : EXIT_PENDING, r)
    return r
  }

  /** A blank line, a title, then the rows as a table (or `empty`). */
  private section<T>(title: string, rows: readonly T[], columns: readonly Column<T>[], empty: string): void {
    this.log('')
    this.log(title)
    this.log(rows.length ? renderTable(rows, columns) : empty)
  }
}
