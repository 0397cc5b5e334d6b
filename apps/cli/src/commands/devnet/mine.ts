import { Flags } from '@oclif/core'
import { BaseCommand } from '../../shared/base-command'
import { MineResult, RegtestClient } from '../../shared/devnet/regtest'
import { devnetChainUrl } from '../../shared/devnet/targets'
import { devnetDirFlag } from '../../shared/flags'
import { Messages } from '../../shared/messages'
import { chainUrlFlag } from '../../shared/wallet-flags'

const messages = Messages.load('devnet.mine')

export default class DevnetMine extends BaseCommand<MineResult> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  static flags = {
    blocks: Flags.integer({ default: 1, min: 1, max: 10_000, summary: messages.get('flags.blocks.summary') }),
    address: Flags.string({ summary: messages.get('flags.address.summary'), helpValue: '<address>' }),
    dir: devnetDirFlag(),
    'chain-url': chainUrlFlag({ summary: messages.get('flags.chain-url.summary') }),
  }

  async run(): Promise<MineResult> {
    const { flags } = await this.parse(DevnetMine)
    const chain = new RegtestClient(devnetChainUrl(flags.dir, flags['chain-url']))
    const r = await this.step(messages.get('progress', [flags.blocks]), () => chain.mine(flags.blocks, flags.address))
    this.log(messages.get('done', [r.hashes.length, r.height]))
    for (const h of r.hashes) this.log(h)
    return r
  }
}
