import type { PresignatureStatusDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderPairs, renderTable } from '../../shared/table'

const messages = Messages.load('presig.status')

export default class PresigStatus extends NodeCommand<PresignatureStatusDto> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  async run(): Promise<PresignatureStatusDto> {
    const { flags } = await this.parse(PresigStatus)
    const s = await this.client(flags.node).presignatureStatus()
    const preferred = s.preferredSigners.join(',')
    this.log(
      renderPairs([
        ['Key', s.keyId ?? messages.get('noKey')],
        ['Preferred signers', preferred || null],
        ['Generating', s.generating],
        ['Used', s.used],
        ['Burned', s.burned],
        ['Coverage', `${s.coverage.covered}/${s.coverage.utxos} (${Math.round(s.coverage.ratio * 100)}%)`],
      ]),
    )
    const sets = Object.entries(s.ready).sort(([a], [b]) => a.localeCompare(b))
    this.log('')
    if (sets.length === 0) {
      this.log(messages.get('none'))
    } else {
      this.log(
        renderTable(sets, [
          { header: 'SIGNER SET', get: ([set]) => set + (set === preferred ? ' (preferred)' : '') },
          { header: 'READY', get: ([, n]) => n },
        ]),
      )
    }
    return s
  }
}
