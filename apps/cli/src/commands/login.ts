import { ApiClient } from '@tw/api'
import { NodeCommand } from '../shared/base-command'
import { selectedProfile, writeCliConfig } from '../shared/cli-config'
import { CliError, EXIT_USAGE } from '../shared/errors'
import { Messages } from '../shared/messages'

const messages = Messages.load('login')

export interface LoginResult {
  node: string
  nodeId: number
  configFile: string
  /** The profile it was saved under; null for the default login. */
  profile: string | null
}

export default class Login extends NodeCommand<LoginResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  async run(): Promise<LoginResult> {
    const { flags } = await this.parse(Login)
    // Only an explicit token is saved (never one read from an earlier login or a devnet).
    const token = flags.token ?? process.env.TW_API_TOKEN
    if (!token) throw new CliError('NO_TOKEN', messages.get('noToken'), EXIT_USAGE)
    const status = await new ApiClient({ baseUrl: flags.node, token }).clusterStatus()
    const profile = selectedProfile(flags.profile)
    const configFile = writeCliConfig({ node: flags.node, token }, process.env, profile)
    this.log(messages.get('done', [flags.node, status.nodeId, configFile]) + (profile ? ` ${messages.get('asProfile', [profile, profile])}` : ''))
    return { node: flags.node, nodeId: status.nodeId, configFile, profile: profile ?? null }
  }
}
