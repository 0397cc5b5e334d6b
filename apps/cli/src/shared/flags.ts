import { Flags } from '@oclif/core'
import { CliError, EXIT_USAGE } from './errors'
import { Messages } from './messages'
import { DEFAULT_DEVNET_DIR, readStateSync, urls } from './devnet/state'
import { listProfiles, PROFILE_NAME, readCliConfig, selectedProfile } from './cli-config'

const messages = Messages.load('errors')

/** Where a node URL comes from when `--node` is not given. */
export const FALLBACK_NODE_URL = 'http://127.0.0.1:8081'

/**
 * The node a command talks to when `--node` is absent: the node of the selected profile
 * (`--profile` / `TW_PROFILE`), else `TW_NODE_URL`, else the node saved by
 * `threshold-wallet login` (an explicit choice wins over a devnet that happens to be in the
 * working directory), else node 1 of the devnet in `./.devnet` (or `TW_DEVNET_DIR`) if its
 * state file exists, else {@link FALLBACK_NODE_URL}.
 */
export function defaultNodeUrl(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd(), profileFlag?: string): string {
  const profile = selectedProfile(profileFlag, env)
  if (profile !== undefined) {
    // An unknown profile is reported where its token is read (`login --profile` makes new ones).
    const node = listProfiles(env).profiles.find((p) => p.name === profile)?.node
    if (node) return parseNodeUrl(node)
  }
  if (env.TW_NODE_URL) return parseNodeUrl(env.TW_NODE_URL)
  const saved = readCliConfig(env, undefined).node
  if (saved) {
    try {
      return parseNodeUrl(saved)
    } catch {
      // A bad saved URL: fall through (login validates what it writes).
    }
  }
  try {
    const node1 = readStateSync(env.TW_DEVNET_DIR ?? DEFAULT_DEVNET_DIR, cwd)?.nodes.find((n) => n.id === 1)
    if (node1) return urls.api(node1)
  } catch {
    // An unreadable state file is reported by the devnet commands, not by every command.
  }
  return FALLBACK_NODE_URL
}

/** Validates and normalizes a node URL (http or https, no trailing slash). */
export function parseNodeUrl(input: string): string {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    throw new CliError('BAD_NODE_URL', messages.get('BadNodeUrl', [input]), EXIT_USAGE)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError('BAD_NODE_URL', messages.get('BadNodeUrl', [input]), EXIT_USAGE)
  }
  return input.replace(/\/+$/, '')
}

/** `--node <url>`: explicit value → the profile's node → TW_NODE_URL → the login node → the local devnet's node 1 → http://127.0.0.1:8081. */
export const nodeFlag = Flags.custom<string>({
  summary: 'Base URL of the node to talk to.',
  description:
    'Defaults to the node of --profile (or $TW_PROFILE), else $TW_NODE_URL, else the node saved by `threshold-wallet login`, else node 1 of the devnet in ./.devnet (or $TW_DEVNET_DIR), else http://127.0.0.1:8081.',
  helpValue: '<url>',
  parse: async (input) => parseNodeUrl(input),
  default: async (ctx) => defaultNodeUrl(process.env, process.cwd(), (ctx.flags as { profile?: string } | undefined)?.profile),
  defaultHelp: async () => 'the profile node, TW_NODE_URL, the login node, devnet node 1, or http://127.0.0.1:8081',
})

/** `--profile <name>`: a login saved with `login --profile <name>` (its node and token). */
export const profileFlag = () =>
  Flags.string({
    summary: 'Use the login saved under this name (`login --profile <name>`): its node and token.',
    description: 'Defaults to $TW_PROFILE; without either, the default login.',
    helpValue: '<name>',
    parse: async (input) => {
      if (!PROFILE_NAME.test(input)) throw new CliError('INVALID_PROFILE', messages.get('BadProfile', [input]), EXIT_USAGE)
      return input
    },
  })

/** `--dir` of the devnet commands: the devnet's data directory. */
export const devnetDirFlag = () =>
  Flags.string({
    summary: 'Devnet data directory (relative to the current directory).',
    env: 'TW_DEVNET_DIR',
    default: DEFAULT_DEVNET_DIR,
    helpValue: '<dir>',
  })
