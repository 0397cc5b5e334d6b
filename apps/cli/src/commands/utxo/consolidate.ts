import { Messages } from '../../shared/messages'
import Send from '../send'

const messages = Messages.load('utxo.consolidate')

/** The flags of `send` that say who is paid: a consolidation pays no one. */
const { to: _to, amount: _amount, csv: _csv, 'subtract-fee': _subtractFee, consolidate: _consolidate, ...flags } = Send.flags

/** `utxo consolidate`: `send --consolidate` under the coins' own topic. */
export default class UtxoConsolidate extends Send {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')
  // Send's run reads the payment flags as absent (they are optional there), so the narrower set stands in for Send's.
  static flags = flags as typeof Send.flags
  static consolidating = true
}
