import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { DEFAULT_DEVNET_DIR, readStateSync, urls } from './devnet/state'
import { CliError, EXIT_USAGE } from './errors'

/** What `threshold-wallet login` stores: the node to talk to and its API token. */
export interface CliConfig {
  node?: string
  token?: string
}

/** The login file: the default login, and named ones (`login --profile <name>`). */
interface CliConfigFile extends CliConfig {
  profiles?: Record<string, CliConfig>
}

/** A profile name: 1-40 letters, digits, `.`, `_` or `-`. */
export const PROFILE_NAME = /^[A-Za-z0-9._-]{1,40}$/

/** The profile in use: `--profile`, else `$TW_PROFILE`, else none (the default login). */
export function selectedProfile(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flag ?? (env.TW_PROFILE || undefined)
}

function readConfigFile(env: NodeJS.ProcessEnv): CliConfigFile {
  try {
    const raw = JSON.parse(readFileSync(configFilePath(env), 'utf8')) as CliConfigFile
    return raw && typeof raw === 'object' ? raw : {}
  } catch {
    return {}
  }
}

/** The node and token of a saved login, each only when it is a string. */
function clean(c: CliConfig | undefined): CliConfig {
  return { ...(typeof c?.node === 'string' ? { node: c.node } : {}), ...(typeof c?.token === 'string' ? { token: c.token } : {}) }
}

/** The saved profiles' names and nodes (never their tokens), and the default login's node. */
export function listProfiles(env: NodeJS.ProcessEnv = process.env): { default: string | null; profiles: { name: string; node: string | null }[] } {
  const file = readConfigFile(env)
  return {
    default: clean(file).node ?? null,
    profiles: Object.entries(file.profiles ?? {})
      .map(([name, c]) => ({ name, node: clean(c).node ?? null }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  }
}

/** `$XDG_CONFIG_HOME/threshold-wallet/config.json`, default `~/.config/threshold-wallet/config.json`. */
export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config')
  return join(base, 'threshold-wallet', 'config.json')
}

/**
 * The saved login of `profile` (`--profile` / `$TW_PROFILE`), else the default one; `{}` when
 * there is none (an unreadable file is ignored too). A profile that was never saved is a usage
 * error (UNKNOWN_PROFILE) rather than a silent fall back to another cluster.
 */
export function readCliConfig(env: NodeJS.ProcessEnv = process.env, profile: string | undefined = selectedProfile(undefined, env)): CliConfig {
  const file = readConfigFile(env)
  if (profile === undefined) return clean(file)
  const saved = file.profiles?.[profile]
  if (!saved) {
    const known = Object.keys(file.profiles ?? {}).sort()
    throw new CliError(
      'UNKNOWN_PROFILE',
      `no saved profile "${profile}"${known.length ? ` (saved: ${known.join(', ')})` : ''}: save it with \`threshold-wallet login --profile ${profile}\``,
      EXIT_USAGE,
    )
  }
  return clean(saved)
}

function writeConfigFile(content: CliConfigFile, env: NodeJS.ProcessEnv): string {
  const file = configFilePath(env)
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(content, null, 2) + '\n', { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, file)
  return file
}

/** Saves `config` as the default login, or as `profile`, with mode 0600 (directory 0700), atomically; the other logins stay. Returns the path. */
export function writeCliConfig(config: CliConfig, env: NodeJS.ProcessEnv = process.env, profile?: string): string {
  const file = readConfigFile(env)
  const next: CliConfigFile =
    profile === undefined ? { ...file, node: config.node, token: config.token } : { ...file, profiles: { ...file.profiles, [profile]: { node: config.node, token: config.token } } }
  return writeConfigFile(next, env)
}

/** Forgets the default login, or `profile` (`threshold-wallet logout`); the file goes once nothing is left in it. Returns whether there was one. */
export function removeCliConfig(env: NodeJS.ProcessEnv = process.env, profile?: string): boolean {
  const path = configFilePath(env)
  if (!existsSync(path)) return false
  const file = readConfigFile(env)
  let next: CliConfigFile
  if (profile === undefined) {
    if (file.node === undefined && file.token === undefined && file.profiles) return false
    next = { profiles: file.profiles }
  } else {
    if (!file.profiles?.[profile]) return false
    const { [profile]: _gone, ...rest } = file.profiles
    next = { ...file, profiles: rest }
  }
  if (next.node === undefined && next.token === undefined && Object.keys(next.profiles ?? {}).length === 0) {
    rmSync(path, { force: true })
  } else {
    if (next.profiles && Object.keys(next.profiles).length === 0) delete next.profiles
    writeConfigFile(next, env)
  }
  return true
}

/** Where a devnet keeps its admin API token (mode 0600): `<devnet dir>/secrets/api-admin-token`. */
export function devnetTokenPath(dir: string = DEFAULT_DEVNET_DIR, cwd: string = process.cwd()): string {
  return join(resolve(cwd, dir), 'secrets', 'api-admin-token')
}

/** The devnet's admin token if `url` is one of its nodes (state file in `./.devnet` or `$TW_DEVNET_DIR`). */
export function devnetTokenFor(url: string, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string | undefined {
  const dir = env.TW_DEVNET_DIR ?? DEFAULT_DEVNET_DIR
  try {
    const state = readStateSync(dir, cwd)
    if (!state) return undefined
    const target = sameOrigin(url)
    if (!state.nodes.some((n) => sameOrigin(urls.api(n)) === target)) return undefined
    const file = devnetTokenPath(dir, cwd)
    return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined
  } catch {
    return undefined
  }
}

/** `devnets.json` next to the login config: node origin → token file of the devnet serving it. */
function registryPath(env: NodeJS.ProcessEnv): string {
  return join(dirname(configFilePath(env)), 'devnets.json')
}

/**
 * Records that `nodeUrls` belong to the devnet whose admin token is in `tokenFile`, so commands
 * run from any directory (`--node <devnet node>`) find its token. Written by `devnet up` (0600).
 */
export function registerDevnetToken(nodeUrls: string[], tokenFile: string, env: NodeJS.ProcessEnv = process.env): void {
  const file = registryPath(env)
  let map: Record<string, string> = {}
  try {
    map = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>
  } catch {
    map = {}
  }
  for (const u of nodeUrls) map[sameOrigin(u)] = resolve(tokenFile)
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(map, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, file)
}

function registeredDevnetToken(url: string, env: NodeJS.ProcessEnv): string | undefined {
  try {
    const map = JSON.parse(readFileSync(registryPath(env), 'utf8')) as Record<string, string>
    const file = map[sameOrigin(url)]
    return file && existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined
  } catch {
    return undefined
  }
}

/**
 * The API token for a request to `url`: `--token`, else `$TW_API_TOKEN`, else the admin token
 * of the devnet serving `url` (the one in `devnetDir`, `$TW_DEVNET_DIR` or `./.devnet`, else
 * the one `devnet up` registered for that address), else the token saved by `login`.
 */
export function resolveToken(
  flag: string | undefined,
  url: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  devnetDir?: string,
  profile: string | undefined = selectedProfile(undefined, env),
): string | undefined {
  if (flag) return flag
  if (env.TW_API_TOKEN) return env.TW_API_TOKEN
  // A profile names its cluster: its saved token wins over a devnet's.
  if (profile !== undefined) return readCliConfig(env, profile).token
  const dirEnv = devnetDir ? { ...env, TW_DEVNET_DIR: devnetDir } : env
  return devnetTokenFor(url, dirEnv, cwd) ?? registeredDevnetToken(url, env) ?? readCliConfig(env).token
}

function sameOrigin(url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return url
  }
}
