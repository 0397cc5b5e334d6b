// tw-regtest [--port N] [--host H] [--data-dir DIR] [--block-interval-ms MS]
// Prints one JSON line {"url","port","faucet","height","dataDir"} on stdout once listening;
// stops cleanly on SIGTERM/SIGINT. Errors go to stderr with exit status 1.
import { FAUCET_ADDRESS } from './chain'
import { startRegtest } from './index'

const USAGE = 'usage: tw-regtest [--port N (0 = pick)] [--host 127.0.0.1] [--data-dir DIR] [--block-interval-ms MS (0 = off)]'

export function parseArgs(argv: string[]): { port: number; host: string; dataDir?: string; blockIntervalMs: number } {
  const out: { port: number; host: string; dataDir?: string; blockIntervalMs: number } = { port: 0, host: '127.0.0.1', blockIntervalMs: 0 }
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]
    let value: string | undefined
    const eq = arg.indexOf('=')
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1)
      arg = arg.slice(0, eq)
    }
    if (arg === '--help' || arg === '-h') throw new Error(USAGE)
    const next = () => {
      const v = value ?? argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`)
      return v
    }
    const int = (v: string) => {
      if (!/^\d+$/.test(v)) throw new Error(`${arg} must be a non-negative integer, got ${v}`)
      return Number(v)
    }
    if (arg === '--port') out.port = int(next())
    else if (arg === '--host') out.host = next()
    else if (arg === '--data-dir') out.dataDir = next()
    else if (arg === '--block-interval-ms') out.blockIntervalMs = int(next())
    else throw new Error(`unknown argument ${arg}\n${USAGE}`)
  }
  if (out.port > 65535) throw new Error('--port must be at most 65535')
  return out
}

export async function main(argv: string[]): Promise<void> {
  let args
  try {
    args = parseArgs(argv)
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`)
    process.exitCode = 2
    return
  }
  try {
    const rt = await startRegtest(args)
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) return
      stopping = true
      process.stderr.write(`tw-regtest: ${signal}, stopping\n`)
      rt.close().then(
        () => process.exit(0),
        (e: Error) => {
          process.stderr.write(`tw-regtest: close failed: ${e.message}\n`)
          process.exit(1)
        },
      )
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    process.stdout.write(`${JSON.stringify({ url: rt.url, port: rt.port, faucet: FAUCET_ADDRESS, height: rt.chain.height, dataDir: args.dataDir ?? null })}\n`)
  } catch (e) {
    process.stderr.write(`tw-regtest: ${(e as Error).message}\n`)
    process.exit(1)
  }
}
