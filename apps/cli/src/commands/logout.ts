import { BaseCommand } from '../shared/base-command'
import { configFilePath, removeCliConfig, selectedProfile } from '../shared/cli-config'
import { profileFlag } from '../shared/flags'
import { Messages } from '../shared/messages'

const messages = Messages.load('logout')

export interface LogoutResult {
  configFile: string
  /** False when there was no saved login. */
  removed: boolean
  /** The profile forgotten; null for the default login. */
  profile: string | null
}

export default class Logout extends BaseCommand<LogoutResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = { profile: profileFlag() }

  async run(): Promise<LogoutResult> {
    const { flags } = await this.parse(Logout)
    const configFile = configFilePath()
    const profile = selectedProfile(flags.profile)
    const removed = removeCliConfig(process.env, profile)
    const which = profile ? messages.get('profile', [profile]) : messages.get('default')
    this.log(removed ? messages.get('done', [which, configFile]) : messages.get('none', [which, configFile]))
    return { configFile, removed, profile: profile ?? null }
  }
}
