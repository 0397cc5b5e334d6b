import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ApiClient, ApiError } from '@tw/api'
import { CliError } from '../errors'
import { tcpPortFree } from './ports'
import { isOurs, ProcessMarker, spawnDetached } from './processes'
import { DevnetPaths, RegtestState, urls } from './state'

/**
 * The regtest chain's entry point: $TW_REGTEST_ENTRY, else the `bin` of the `@tw/regtest`
 * package (`require.resolve('@tw/regtest/package.json')`), else `apps/regtest/dist/main.js`
 * of this checkout (this file is apps/cli/dist/shared/devnet/regtest.js).
 */
export function regtestEntry(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TW_REGTEST_ENTRY) return resolve(env.TW_REGTEST_ENTRY)
  try {
    const pkgFile = require.resolve('@tw/regtest/package.json')
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { bin?: string | Record<string, string> }
    const bin = typeof pkg.bin === 'string' ? pkg.bin : (pkg.bin?.['tw-regtest'] ?? Object.values(pkg.bin ?? {})[0] ?? 'dist/main.js')
    return resolve(dirname(pkgFile), bin)
  } catch {
    return resolve(__dirname, '..', '..', '..', '..', 'regtest', 'dist', 'main.js')
  }
}

/** The command-line arguments of the chain process. */
export function regtestArgs(paths: DevnetPaths, r: RegtestState): string[] {
  return ['--port', String(r.port), '--data-dir', paths.regtest, '--block-interval-ms', String(r.blockIntervalMs)]
}

/** The chain process is ours if its command line names our data directory. */
export function regtestMarker(paths: DevnetPaths): ProcessMarker {
  return { cmdline: paths.regtest }
}

/** The chain's tip height (`GET /blocks/tip/height`), or undefined if it does not answer. */
export async function chainTipHeight(chainUrl: string, timeoutMs = 2000): Promise<number | undefined> {
  try {
    const res = await fetch(`${chainUrl}/blocks/tip/height`, { signal: AbortSignal.timeout(timeoutMs) })
    if (!res.ok) return undefined
    const n = Number((await res.text()).trim())
    return Number.isInteger(n) && n >= 0 ? n : undefined
  } catch {
    return undefined
  }
}

/**
 * Starts the chain detached unless it already runs, then waits until it answers
 * `/blocks/tip/height`. Resolves to `{ pid, started }`.
 */
export async function startRegtest(
  paths: DevnetPaths,
  r: RegtestState,
  o: { timeoutMs: number; env: NodeJS.ProcessEnv; onProgress?: (s: string) => void },
): Promise<{ pid: number; started: boolean }> {
  const url = urls.chain(r)
  let started = false
  let pid: number
  if (isOurs(r.pid, regtestMarker(paths))) {
    pid = r.pid
  } else {
    const entry = regtestEntry(o.env)
    if (!existsSync(entry)) {
      throw new CliError(
        'REGTEST_NOT_BUILT',
        `regtest chain not built: ${entry} is missing; build it with \`npx tsc -b apps/regtest\` (package @tw/regtest) or set TW_REGTEST_ENTRY`,
      )
    }
    if (!(await tcpPortFree(r.port))) {
      throw new CliError('DEVNET_PORT_IN_USE', `port ${r.port} (regtest chain) is in use by another process`)
    }
    pid = spawnDetached(process.execPath, [entry, ...regtestArgs(paths, r)], {
      env: { ...o.env, NO_COLOR: '1' },
      logFile: paths.regtestLog,
    })
    started = true
  }
  const deadline = Date.now() + o.timeoutMs
  for (;;) {
    const height = await chainTipHeight(url)
    if (height !== undefined) {
      o.onProgress?.(`tip height ${height}`)
      return { pid, started }
    }
    if (!isOurs(pid, regtestMarker(paths))) {
      throw new CliError('REGTEST_EXITED', `regtest chain exited during startup; see ${paths.regtestLog}`)
    }
    if (Date.now() > deadline) {
      throw new CliError('REGTEST_UNHEALTHY', `regtest chain at ${url} not answering after ${Math.round(o.timeoutMs / 1000)}s; see ${paths.regtestLog}`)
    }
    await sleep(200)
  }
}

/** `POST /regtest/mine` answer. */
export interface MineResult {
  hashes: string[]
  height: number
}

/** The regtest chain's devnet endpoints (faucet, mining). */
export class RegtestClient {
  private readonly api: ApiClient
  constructor(
    readonly url: string,
    timeoutMs = 30_000,
  ) {
    this.api = new ApiClient({ baseUrl: url, timeoutMs })
  }

  mine(blocks: number, address?: string): Promise<MineResult> {
    return this.call('POST', '/regtest/mine', address ? { blocks, address } : { blocks })
  }

  faucet(address: string, amountSats: number): Promise<{ txid: string }> {
    return this.call('POST', '/regtest/faucet', { address, amountSats })
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await this.api.request<T>(method, path, body)
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'UNREACHABLE' || err.code === 'TIMEOUT')) {
        throw new CliError('REGTEST_UNREACHABLE', `${err.message}. Is the devnet up? Run \`threshold-wallet devnet up\` or pass --chain-url.`)
      }
      throw err
    }
  }
}
