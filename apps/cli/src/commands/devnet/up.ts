import { Flags } from '@oclif/core'
import { BaseCommand } from '../../shared/base-command'
import { ByzantineAssignment, mergeByzantine, parseByzantineSpec } from '../../shared/devnet/byzantine'
import { DEVNET_NETWORKS, requestedChain } from '../../shared/devnet/chain'
import { Devnet, DevnetUpResult } from '../../shared/devnet/devnet'
import { renderDevnetStatus } from '../../shared/devnet/render'
import { devnetDirFlag } from '../../shared/flags'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'
import { chainUrlFlag } from '../../shared/wallet-flags'

const messages = Messages.load('devnet.up')

export default class DevnetUp extends BaseCommand<DevnetUpResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    dir: devnetDirFlag(),
    'base-port': Flags.integer({ default: 8081, min: 1024, max: 65531, summary: messages.get('flags.base-port.summary') }),
    'db-name': Flags.string({ default: 'tw_devnet', summary: messages.get('flags.db-name.summary') }),
    timeout: Flags.integer({ default: 180, min: 1, summary: messages.get('flags.timeout.summary') }),
    'keys-timeout': Flags.integer({ default: 600, min: 1, summary: messages.get('flags.keys-timeout.summary') }),
    keys: Flags.boolean({ default: true, allowNo: true, summary: messages.get('flags.keys.summary') }),
    'block-interval': Flags.integer({ min: 0, summary: messages.get('flags.block-interval.summary'), helpValue: '<seconds>' }),
    'log-level': Flags.option({ options: ['error', 'warn', 'log', 'debug', 'verbose'] as const, default: 'log', summary: messages.get('flags.log-level.summary') })(),
    byzantine: Flags.custom<ByzantineAssignment>({
      multiple: true,
      summary: messages.get('flags.byzantine.summary'),
      description: messages.get('flags.byzantine.description'),
      helpValue: '<node>:<behaviour>[,<behaviour>]',
      exclusive: ['no-byzantine'],
      parse: async (input) => parseByzantineSpec(input),
    })(),
    'no-byzantine': Flags.boolean({ summary: messages.get('flags.no-byzantine.summary'), exclusive: ['byzantine'] }),
    network: Flags.option({ options: DEVNET_NETWORKS, summary: messages.get('flags.network.summary') })(),
    'chain-url': chainUrlFlag({ summary: messages.get('flags.chain-url.summary'), description: messages.get('flags.chain-url.description') }),
  }

  async run(): Promise<DevnetUpResult> {
    const { flags } = await this.parse(DevnetUp)
    const devnet = new Devnet(flags.dir)
    const result = await devnet.up(
      {
        basePort: flags['base-port'],
        basePortExplicit: this.argv.some((a) => a === '--base-port' || a.startsWith('--base-port=')),
        dbName: flags['db-name'],
        readyTimeoutMs: flags.timeout * 1000,
        keysTimeoutMs: flags['keys-timeout'] * 1000,
        logLevel: flags['log-level'],
        createKeys: flags.keys,
        blockIntervalMs: flags['block-interval'] === undefined ? undefined : flags['block-interval'] * 1000,
        byzantine: flags['no-byzantine'] ? [] : flags.byzantine ? mergeByzantine(flags.byzantine) : undefined,
        chain: requestedChain(flags.network, flags['chain-url']),
      },
      this.reporter,
    )
    this.log(renderDevnetStatus(result))
    if (result.keys.length > 0) {
      this.log('')
      this.log(
        renderTable(result.keys, [
          { header: 'KEY', get: (k) => k.id },
          { header: 'PROTOCOL', get: (k) => k.protocol },
          { header: 'STATUS', get: (k) => k.status },
          { header: 'PUBLIC KEY', get: (k) => k.publicKey },
        ]),
      )
    }
    this.log('')
    this.log(messages.get('ready', [result.dir, result.healthyNodes, devnet.paths.logs]))
    if (result.keys.length > 0 && result.chain?.external && result.chain.network !== 'regtest') this.log(messages.get('next-outside', [result.chain.network]))
    else if (result.keys.length > 0 && result.chain) this.log(messages.get('next'))
    this.log(`!! ${result.warning}`)
    return result
  }
}
