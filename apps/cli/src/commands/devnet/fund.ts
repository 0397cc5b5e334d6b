import { Flags } from '@oclif/core'
import { ApiClient, WalletType } from '@tw/api'
import { parseAmountSats } from '../../shared/amounts'
import { BaseCommand } from '../../shared/base-command'
import { MineResult, RegtestClient } from '../../shared/devnet/regtest'
import { devnetChainUrl, devnetNodeUrl } from '../../shared/devnet/targets'
import { devnetDirFlag } from '../../shared/flags'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'
import { chainUrlFlag, optionalNodeFlag, walletTypeFlag } from '../../shared/wallet-flags'
import { resolveToken } from '../../shared/cli-config'

const messages = Messages.load('devnet.fund')

export interface DevnetFundResult {
  txid: string
  address: string
  /** The wallet type of the address, when the node handed it out (not with --address). */
  type: WalletType | null
  amountSats: number
  chainUrl: string
  /** The block mined to confirm it; null with --no-mine. */
  mined: MineResult | null
}

export default class DevnetFund extends BaseCommand<DevnetFundResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    amount: Flags.string({ required: true, summary: messages.get('flags.amount.summary'), helpValue: '<sats>' }),
    type: walletTypeFlag({ summary: messages.get('flags.type.summary'), default: 'segwit' }),
    address: Flags.string({ summary: messages.get('flags.address.summary'), helpValue: '<address>' }),
    mine: Flags.boolean({ default: true, allowNo: true, summary: messages.get('flags.mine.summary') }),
    dir: devnetDirFlag(),
    node: optionalNodeFlag({ description: messages.get('flags.node.description') }),
    'chain-url': chainUrlFlag({ summary: messages.get('flags.chain-url.summary') }),
  }

  async run(): Promise<DevnetFundResult> {
    const { flags } = await this.parse(DevnetFund)
    const amountSats = parseAmountSats(flags.amount)
    const chainUrl = devnetChainUrl(flags.dir, flags['chain-url'])
    const chain = new RegtestClient(chainUrl)
    let address = flags.address
    let type: WalletType | null = null
    if (!address) {
      const nodeUrl = devnetNodeUrl(flags.dir, flags.node)
      const a = await this.step(messages.get('progress.address', [flags.type, nodeUrl]), () =>
        new ApiClient({ baseUrl: nodeUrl, token: resolveToken(undefined, nodeUrl, process.env, process.cwd(), flags.dir) }).address(flags.type),
      )
      address = a.address
      type = a.type
    }
    const to = address
    const { txid } = await this.step(messages.get('progress.faucet', [amountSats, to]), () => chain.faucet(to, amountSats))
    const mined = flags.mine ? await this.step(messages.get('progress.mine'), () => chain.mine(1)) : null
    this.log(
      renderPairs([
        ['Txid', txid],
        ['Address', address],
        ['Type', type],
        ['Amount', `${amountSats} sats`],
        ['Mined', mined ? `block ${mined.height} (${mined.hashes[mined.hashes.length - 1] ?? '-'})` : 'no (unconfirmed; run `threshold-wallet devnet mine`)'],
      ]),
    )
    return { txid, address, type, amountSats, chainUrl, mined }
  }
}
