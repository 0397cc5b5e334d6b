import type { BalanceDto } from '@tw/api'
import { formatBtc } from '../../shared/amounts'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderPairs, renderTable } from '../../shared/table'

const messages = Messages.load('wallet.balance')

export default class WalletBalance extends NodeCommand<BalanceDto> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  async run(): Promise<BalanceDto> {
    const { flags } = await this.parse(WalletBalance)
    const b = await this.client(flags.node).balance()
    if (b.wallets.length === 0) {
      this.log(messages.get('none'))
    } else {
      type Row = { type: string; keyId: string | null; confirmedSats: number; unconfirmedSats: number; reservedSats: number | null; utxos: number | null }
      const rows: Row[] = [
        ...b.wallets,
        {
          type: 'TOTAL',
          keyId: null,
          confirmedSats: b.confirmedSats,
          unconfirmedSats: b.unconfirmedSats,
          reservedSats: b.wallets.reduce((s, w) => s + w.reservedSats, 0),
          utxos: b.wallets.reduce((s, w) => s + w.utxos, 0),
        },
      ]
      this.log(
        renderTable(rows, [
          { header: 'TYPE', get: (w) => w.type },
          { header: 'KEY', get: (w) => w.keyId },
          { header: 'CONFIRMED (sat)', get: (w) => w.confirmedSats },
          { header: 'UNCONFIRMED (sat)', get: (w) => w.unconfirmedSats },
          { header: 'RESERVED (sat)', get: (w) => w.reservedSats },
          { header: 'UTXOS', get: (w) => w.utxos },
        ]),
      )
      this.log('')
    }
    this.log(
      renderPairs([
        ['Network', b.network],
        ['Tip height', b.tipHeight],
        ['Confirmed', `${b.confirmedSats} sats (${formatBtc(b.confirmedSats)} BTC)`],
        ['Unconfirmed', `${b.unconfirmedSats} sats (${formatBtc(b.unconfirmedSats)} BTC)`],
      ]),
    )
    return b
  }
}
