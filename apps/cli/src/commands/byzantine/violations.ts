import { Flags } from '@oclif/core'
import type { ViolationDto, ViolationListDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'

const messages = Messages.load('byzantine.violations')

export const VIOLATION_STATUSES = ['reported', 'proven', 'cleared'] as const

/** The node's list narrowed to one offender (violations and bans) and/or one violation status. */
export function filterViolations(list: ViolationListDto, f: { offender?: number; status?: ViolationDto['status'] }): ViolationListDto {
  return {
    ...list,
    violations: list.violations.filter((v) => (f.offender === undefined || v.offender === f.offender) && (f.status === undefined || v.status === f.status)),
    bans: list.bans.filter((b) => f.offender === undefined || b.nodeId === f.offender),
  }
}

/** First 8 characters of an id (UUIDs are unique enough there for reading a table). */
const short = (id: string): string => (id.length > 8 ? id.slice(0, 8) : id)

export default class ByzantineViolations extends NodeCommand<ViolationListDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    offender: Flags.integer({ min: 1, max: 255, summary: messages.get('flags.offender.summary'), helpValue: '<id>' }),
    status: Flags.option({ options: VIOLATION_STATUSES, summary: messages.get('flags.status.summary') })(),
  }

  async run(): Promise<ViolationListDto> {
    const { flags } = await this.parse(ByzantineViolations)
    const all = await this.client(flags.node).violations()
    const list = filterViolations(all, { offender: flags.offender, status: flags.status })
    if (list.violations.length === 0) {
      this.log(all.violations.length === 0 ? messages.get('none') : messages.get('noneMatching', [all.violations.length]))
    } else {
      this.log(
        renderTable(list.violations, [
          { header: 'ID', get: (v) => short(v.id) },
          { header: 'TYPE', get: (v) => v.type },
          { header: 'OFFENDER', get: (v) => v.offender },
          { header: 'STATUS', get: (v) => v.status },
          { header: 'ACCUSERS', get: (v) => v.accusers.join(',') },
          { header: 'REPORTED', get: (v) => v.reportedAt },
        ]),
      )
    }
    this.log('')
    if (list.bans.length === 0) {
      this.log(messages.get('noBans'))
    } else {
      this.log(messages.get('bans'))
      this.log(
        renderTable(list.bans, [
          { header: 'NODE', get: (b) => b.nodeId },
          { header: 'BANNED AT', get: (b) => b.bannedAt },
          { header: 'VIOLATIONS', get: (b) => b.violations.map(short).join(',') },
          { header: 'REASON', get: (b) => b.reason },
        ]),
      )
    }
    this.log('')
    this.log(messages.get('policy', [all.banThreshold, all.minAccusers]))
    return list
  }
}
