import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { DEFAULT_DEVNET_DIR, readStateSync, urls } from './devnet/state'

/** What `threshold-wallet login` stores: the node to talk to and its API token. */
export interface CliConfig {
  node?: string
  token?: string
}

/** `$XDG_CONFIG_HOME/threshold-wallet/config.json`, default `~/.config/threshold-wallet/config.json`. */
export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config')
  return join(base, 'threshold-wallet', 'config.json')
}

/** The login config, or `{}` when there is none (an unreadable file is ignored too). */
export function readCliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  try {
    const raw = JSON.parse(readFileSync(configFilePath(env), 'utf8')) as CliConfig
    return {
      node: typeof raw.node === 'string' ? raw.node : undefined,
      token: typeof raw.token === 'string' ? raw.token : undefined,
    }
  } catch {
    return {}
  }
}

/** Writes the login config with mode 0600 (directory 0700), atomically. Returns the path. */
export function writeCliConfig(config: CliConfig, env: NodeJS.ProcessEnv = process.env): string {
  const file = configFilePath(env)
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, file)
  return file
}

/** Deletes the login config (`threshold-wallet logout`). Returns whether there was one. */
export function removeCliConfig(env: NodeJS.ProcessEnv = process.env): boolean {
  const file = configFilePath(env)
  if (!existsSync(file)) return false
  rmSync(file, { force: true })
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
export function resolveToken(flag: string | undefined, url: string, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd(), devnetDir?: string): string | undefined {
  if (flag) return flag
  if (env.TW_API_TOKEN) return env.TW_API_TOKEN
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
