import type { AuditVerifyDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { CliError } from '../../shared/errors'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'

const messages = Messages.load('audit.verify')

export default class AuditVerify extends NodeCommand<AuditVerifyDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  async run(): Promise<AuditVerifyDto> {
    const { flags } = await this.parse(AuditVerify)
    const r = await this.step(messages.get('progress'), () => this.client(flags.node).auditVerify())
    if (!r.ok) throw new CliError('AUDIT_CHAIN_BROKEN', messages.get('broken', [r.checked, r.firstBrokenId ?? '?', r.reason ?? 'no reason given']), 1, r)
    this.log(
      renderPairs([
        ['Audit log', messages.get('intact')],
        ['Rows checked', r.checked],
        ['Node', flags.node],
      ]),
    )
    return r
  }
}
