import { Flags } from '@oclif/core'
import type { PresignatureJobsDto } from '@tw/api'
import { NodeCommand } from '../../shared/base-command'
import { Messages } from '../../shared/messages'
import { renderTable } from '../../shared/table'

const messages = Messages.load('presig.generate')

export default class PresigGenerate extends NodeCommand<PresignatureJobsDto> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    count: Flags.integer({ required: true, min: 1, max: 1000, summary: messages.get('flags.count.summary') }),
  }

  async run(): Promise<PresignatureJobsDto> {
    const { flags } = await this.parse(PresigGenerate)
    const jobs = await this.step(messages.get('progress', [flags.count]), () => this.client(flags.node).generatePresignatures({ count: flags.count }))
    this.log(messages.get('queued', [jobs.queued.length]))
    if (jobs.queued.length > 0) {
      this.log(
        renderTable(jobs.queued, [
          { header: 'JOB', get: (j) => j.id },
          { header: 'KEY', get: (j) => j.keyId },
          { header: 'PATH', get: (j) => j.path },
          { header: 'SIGNERS', get: (j) => j.signers.join(',') },
        ]),
      )
    }
    return jobs
  }
}
