import { BaseCommand } from '../shared/base-command'
import { configFilePath, listProfiles, selectedProfile } from '../shared/cli-config'
import { Messages } from '../shared/messages'
import { renderTable } from '../shared/table'

const messages = Messages.load('profiles')

export interface ProfilesResult {
  configFile: string
  /** The default login's node; null when there is none. */
  default: string | null
  /** Saved profiles (name and node; tokens are never shown). */
  profiles: { name: string; node: string | null }[]
  /** The profile $TW_PROFILE selects; null for none. */
  current: string | null
}

export default class Profiles extends BaseCommand<ProfilesResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  async run(): Promise<ProfilesResult> {
    await this.parse(Profiles)
    const { default: dflt, profiles } = listProfiles()
    const current = selectedProfile(undefined) ?? null
    const configFile = configFilePath()
    const rows = [...(dflt ? [{ name: '(default)', node: dflt }] : []), ...profiles]
    if (rows.length === 0) this.log(messages.get('none', [configFile]))
    else
      this.log(
        renderTable(rows, [
          { header: '', get: (r) => (r.name === (current ?? '(default)') ? '*' : '') },
          { header: 'PROFILE', get: (r) => r.name },
          { header: 'NODE', get: (r) => r.node },
        ]),
      )
    return { configFile, default: dflt, profiles, current }
  }
}
