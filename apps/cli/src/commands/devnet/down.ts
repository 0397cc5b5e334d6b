import { Flags } from '@oclif/core'
import { BaseCommand } from '../../shared/base-command'
import { Devnet, DevnetDownResult } from '../../shared/devnet/devnet'
import { devnetDirFlag } from '../../shared/flags'
import { Messages } from '../../shared/messages'

const messages = Messages.load('devnet.down')

export default class DevnetDown extends BaseCommand<DevnetDownResult> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  static flags = {
    dir: devnetDirFlag(),
    grace: Flags.integer({ default: 15, min: 0, summary: messages.get('flags.grace.summary') }),
  }

  async run(): Promise<DevnetDownResult> {
    const { flags } = await this.parse(DevnetDown)
    const devnet = new Devnet(flags.dir)
    const result = await devnet.down({ graceMs: flags.grace * 1000 }, this.reporter)
    if (!result.existed) {
      this.log(messages.get('nothing', [result.dir]))
      return result
    }
    this.log(messages.get('done', [result.stopped.length, result.dir]))
    if (result.busyPorts.length) this.logToStderr(messages.get('busy', [result.busyPorts.join(', ')]))
    return result
  }
}
