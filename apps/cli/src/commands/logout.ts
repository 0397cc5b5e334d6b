import { BaseCommand } from '../shared/base-command'
import { configFilePath, removeCliConfig } from '../shared/cli-config'
import { Messages } from '../shared/messages'

const messages = Messages.load('logout')

export interface LogoutResult {
  configFile: string
  /** False when there was no saved login. */
  removed: boolean
}

export default class Logout extends BaseCommand<LogoutResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  async run(): Promise<LogoutResult> {
    await this.parse(Logout)
    const configFile = configFilePath()
    const removed = removeCliConfig()
    this.log(removed ? messages.get('done', [configFile]) : messages.get('none', [configFile]))
    return { configFile, removed }
  }
}
