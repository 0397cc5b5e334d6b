// @tw/regtest: an embedded regtest chain serving the Esplora HTTP API subset.
import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'
import { Chain, FAUCET_ADDRESS } from './chain'
import { consensus } from './network'
import { createHandler } from './server'

export { Chain, FAUCET_ADDRESS, GENESIS_HASH, RejectError, subsidy } from './chain'
export type { BlockRecord, Coin, TxRecord } from './chain'
export { feeEstimates } from './server'

export interface RegtestOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number
  /** Listen address (default 127.0.0.1). */
  host?: '127.0.0.1' | string
  /** Block file and mempool are kept here (append-only, fsynced) and replayed on start; memory only when absent. */
  dataDir?: string
  /** Mine a block every this many ms; 0 (default) = only on POST /regtest/mine. */
  blockIntervalMs?: number
  network?: 'regtest'
}

export interface Regtest {
  /** Base URL, e.g. http://127.0.0.1:3002 (routes also answer under /api/). */
  url: string
  port: number
  chain: Chain
  /** Stops the timer and the server and releases the data dir. */
  close(): Promise<void>
}

/** Starts the chain (mining 101 blocks to the faucet on an empty chain) and its HTTP server. */
export async function startRegtest(opts: RegtestOptions = {}): Promise<Regtest> {
  if (opts.network !== undefined && opts.network !== 'regtest') throw new Error(`unsupported network ${opts.network}`)
  const host = opts.host ?? '127.0.0.1'
  const interval = opts.blockIntervalMs ?? 0
  if (!Number.isInteger(interval) || interval < 0) throw new Error('blockIntervalMs must be a non-negative integer')
  consensus() // fail now, not on the first POST /tx, if the addon is missing
  const dataDir = opts.dataDir ? path.resolve(opts.dataDir) : undefined
  const releaseLock = dataDir ? lockDataDir(dataDir) : () => {}
  const chain = new Chain({ dataDir })
  try {
    chain.open()
    if (chain.height === 0) chain.mine(101)
  } catch (e) {
    chain.close()
    releaseLock()
    throw e
  }
  const handle = createHandler(chain, { dataDir, blockIntervalMs: interval })
  // The handler answers the errors of routing itself; what escapes it (a request target that is
  // no URL) gets a 500 here instead of an unhandled rejection that would stop the chain.
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const msg = e instanceof Error ? e.message : String(e)
      process.stderr.write(`tw-regtest: internal error on ${req.method} ${req.url}: ${msg}\n`)
      if (res.headersSent) res.destroy()
      else res.writeHead(500, { 'Content-Type': 'text/plain' }).end(msg)
    })
  })
  server.keepAliveTimeout = 1000
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (e) {
    chain.close()
    releaseLock()
    throw e
  }
  const timer =
    interval > 0
      ? setInterval(() => {
          try {
            chain.mine(1)
          } catch (e) {
            process.stderr.write(`tw-regtest: timed mining failed: ${(e as Error).message}\n`)
          }
        }, interval)
      : undefined
  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    chain,
    close() {
      closing ??= new Promise<void>((resolve) => {
        if (timer) clearInterval(timer)
        server.close(() => {
          chain.close()
          releaseLock()
          resolve()
        })
        server.closeAllConnections()
      })
      return closing
    },
  }
}

/** One process per data dir: a LOCK file holding the pid; a stale one (dead pid) is taken over. */
function lockDataDir(dir: string): () => void {
  fs.mkdirSync(dir, { recursive: true })
  const lock = path.join(dir, 'LOCK')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' })
      return () => fs.rmSync(lock, { force: true })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const pid = Number(fs.readFileSync(lock, 'utf8'))
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new Error(`data dir ${dir} is in use by process ${pid}`)
      }
      fs.rmSync(lock, { force: true })
    }
  }
  throw new Error(`cannot lock data dir ${dir}`)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export { FAUCET_ADDRESS as faucetAddress }
