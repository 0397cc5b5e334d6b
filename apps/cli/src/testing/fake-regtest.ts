/**
 * A stand-in for the regtest chain (`@tw/regtest`): the devnet endpoints (`POST /regtest/mine`,
 * `POST /regtest/faucet`, `GET /regtest/info`) and `GET /blocks/tip/height`, no real chain. In-process for the
 * command specs ({@link FakeRegtest}); as a process (TW_REGTEST_ENTRY) it takes the real one's
 * arguments (`--port --data-dir --block-interval-ms`), prints one JSON line when listening and
 * stops on SIGTERM.
 */
import { createHash } from 'node:crypto'
import { createServer, Server } from 'node:http'
import { AddressInfo } from 'node:net'

export class FakeRegtest {
  height = 101
  /** The faucet's own address, as `GET /regtest/info` reports it. */
  faucetAddress = 'bcrt1qfaucet0000000000000000000000000000000'
  readonly faucets: { address: string; amountSats: number; txid: string }[] = []
  readonly mines: { blocks: number; address?: string }[] = []
  private server?: Server
  url = ''

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      let raw = ''
      req.on('data', (c) => (raw += String(c)))
      req.on('end', () => {
        const send = (status: number, b: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' })
          res.end(JSON.stringify(b))
        }
        const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>
        if (req.method === 'GET' && req.url === '/blocks/tip/height') {
          res.writeHead(200, { 'content-type': 'text/plain' })
          return res.end(String(this.height))
        }
        if (req.method === 'GET' && req.url === '/regtest/info') {
          return send(200, {
            network: 'regtest',
            height: this.height,
            tipHash: createHash('sha256').update(`block-${this.height}`).digest('hex'),
            mempoolCount: 0,
            faucet: { address: this.faucetAddress, spendableSats: 5_000_000_000 },
            dataDir: null,
            blockIntervalMs: 0,
          })
        }
        if (req.method === 'POST' && req.url === '/regtest/mine') {
          const blocks = typeof body.blocks === 'number' ? body.blocks : 1
          const address = typeof body.address === 'string' ? body.address : undefined
          this.mines.push({ blocks, address })
          const hashes = Array.from({ length: blocks }, () => createHash('sha256').update(`block-${++this.height}`).digest('hex'))
          return send(200, { hashes, height: this.height })
        }
        if (req.method === 'POST' && req.url === '/regtest/faucet') {
          const address = String(body.address ?? '')
          const amountSats = Number(body.amountSats)
          if (!/^bcrt1/.test(address)) return send(400, { error: { code: 'INVALID_ADDRESS', message: `not a regtest address: ${address}` } })
          const txid = createHash('sha256').update(`${address}:${amountSats}:${this.faucets.length}`).digest('hex')
          this.faucets.push({ address, amountSats, txid })
          return send(200, { txid })
        }
        send(404, { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` } })
      })
    })
    await new Promise<void>((r) => this.server?.listen(port, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server?.closeAllConnections()
      this.server?.close(() => r())
    })
  }
}

if (require.main === module) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(name)
    return i >= 0 ? process.argv[i + 1] : undefined
  }
  const port = Number(arg('--port'))
  if (!Number.isInteger(port) || port <= 0 || !arg('--data-dir') || arg('--block-interval-ms') === undefined) {
    console.error('fake-regtest: usage: --port <p> --data-dir <dir> --block-interval-ms <ms>')
    process.exit(64)
  }
  const chain = new FakeRegtest()
  void chain.start(port).then(() => {
    console.log(JSON.stringify({ url: chain.url, network: 'regtest', height: chain.height }))
  })
  process.on('SIGTERM', () => void chain.close().then(() => process.exit(0)))
}
