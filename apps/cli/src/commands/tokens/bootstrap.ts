import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { Flags } from '@oclif/core'
import { apiTokenHash, generateApiToken } from '@tw/api'
import { BaseCommand } from '../../shared/base-command'
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../../shared/errors'
import { Messages } from '../../shared/messages'
import { renderPairs } from '../../shared/table'

const messages = Messages.load('tokens.bootstrap')

/** The environment variable a node reads the bootstrap admin token's hash from. */
const VARIABLE = 'TW_BOOTSTRAP_ADMIN_TOKEN_SHA256'

export interface BootstrapResult {
  /** The admin token: shown this once, never stored by this command. */
  token: string
  /** Its SHA-256 (hex): the value of TW_BOOTSTRAP_ADMIN_TOKEN_SHA256. */
  sha256: string
  /** The env file the hash was written to, or null. */
  envFile: string | null
}

/**
 * `envText` with `TW_BOOTSTRAP_ADMIN_TOKEN_SHA256=<hash>`: the variable's line replaced (the
 * first uncommented one), else appended. Refuses to replace a hash already set unless `force`.
 */
export function withBootstrapHash(envText: string, hash: string, force: boolean): string {
  const lines = envText.split('\n')
  const at = lines.findIndex((l) => new RegExp(`^\\s*${VARIABLE}\\s*=`).test(l))
  if (at < 0) return `${envText}${envText === '' || envText.endsWith('\n') ? '' : '\n'}${VARIABLE}=${hash}\n`
  const current = lines[at].split('=').slice(1).join('=').trim()
  if (current && !force) throw new CliError('BOOTSTRAP_HASH_SET', messages.get('error.AlreadySet', [VARIABLE]), EXIT_FAILURE)
  lines[at] = `${VARIABLE}=${hash}`
  return lines.join('\n')
}

export default class TokensBootstrap extends BaseCommand<BootstrapResult> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static flags = {
    'env-file': Flags.string({ summary: messages.get('flags.env-file.summary'), helpValue: '<file>' }),
    force: Flags.boolean({ default: false, summary: messages.get('flags.force.summary') }),
  }

  async run(): Promise<BootstrapResult> {
    const { flags } = await this.parse(TokensBootstrap)
    const token = generateApiToken()
    const sha256 = apiTokenHash(token)
    const envFile = flags['env-file'] ?? null
    if (envFile) {
      let text: string
      let mode: number
      try {
        text = readFileSync(envFile, 'utf8')
        mode = statSync(envFile).mode & 0o777
      } catch (err) {
        throw new CliError('FILE_UNREADABLE', messages.get('error.Unreadable', [envFile, (err as Error).message]), EXIT_USAGE)
      }
      writeFileSync(envFile, withBootstrapHash(text, sha256, flags.force), { mode })
    }
    this.log(
      renderPairs([
        ['Admin token', token],
        [VARIABLE, sha256],
        ['Written to', envFile],
      ]),
    )
    this.log('')
    this.log(messages.get('shownOnce', [VARIABLE]))
    return { token, sha256, envFile }
  }
}
