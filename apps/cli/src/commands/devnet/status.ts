import { BaseCommand } from '../../shared/base-command'
import { Devnet, DevnetStatusResult } from '../../shared/devnet/devnet'
import { renderDevnetStatus } from '../../shared/devnet/render'
import { devnetDirFlag } from '../../shared/flags'
import { Messages } from '../../shared/messages'

const messages = Messages.load('devnet.status')

export default class DevnetStatus extends BaseCommand<DevnetStatusResult> {
  static summary = messages.get('summary')
  static examples = messages.lines('examples')

  static flags = {
    dir: devnetDirFlag(),
  }

  async run(): Promise<DevnetStatusResult> {
    const { flags } = await this.parse(DevnetStatus)
    const status = await new Devnet(flags.dir).status()
    this.log(renderDevnetStatus(status))
    return status
  }
}
