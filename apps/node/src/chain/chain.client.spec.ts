import assert from 'node:assert/strict'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { ChainMisconfiguredError, ChainUnavailableError, EsploraClient, GENESIS, chainErrorCounter, connectChain } from './chain.client'

const TIP = 'ab'.repeat(32)
const FAST_RETRY = { maxAttempts: 4, initialDelayMs: 5, maxDelayMs: 20 }
const ADDRESS = 'tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx'

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

/** A local HTTP server answering with `handler`; records every request path and its headers. */
async function serve(handler: Handler): Promise<{ url: string; seen: { path: string; headers: http.IncomingHttpHeaders }[]; close: () => Promise<void> }> {
  const seen: { path: string; headers: http.IncomingHttpHeaders }[] = []
  const server = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers })
    handler(req, res)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

/** An Esplora serving `genesis` under `prefix` (e.g. '/api'); 404 elsewhere. */
function esplora(genesis: string, prefix = ''): Handler {
  return (req, res) => {
    const path = (req.url ?? '').startsWith(prefix) ? (req.url ?? '').slice(prefix.length) : null
    if (path === '/blocks/tip/hash') return void res.end(TIP)
    if (path === '/blocks/tip/height') return void res.end('812')
    if (path === '/block-height/0') return void res.end(genesis)
    if (path !== null && /^\/address\/[^/]+\/utxo$/.test(path)) {
      return void res.end(JSON.stringify([{ txid: 'cd'.repeat(32), vout: 1, value: 5000, status: { confirmed: true, block_height: 800 } }]))
    }
    res.statusCode = 404
    res.end('Not Found')
  }
}

async function misconfiguration(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => assert.fail('expected a ChainMisconfiguredError'),
    (e: unknown) => e,
  )
  assert.ok(err instanceof ChainMisconfiguredError, `a ChainMisconfiguredError, got ${String(err)}`)
  assert.equal(err.code, 'CHAIN_UNAVAILABLE')
  return err.message
}

describe('EsploraClient.probe: TW_CHAIN_URL checked before the wallet uses it', () => {
  it('accepts the Esplora API of the configured network', async () => {
    const s = await serve(esplora(GENESIS.signet, '/api'))
    try {
      const probe = await new EsploraClient(`${s.url}/api`, { network: 'signet' }).probe()
      assert.deepEqual(probe, { network: 'signet', tipHash: TIP })
    } finally {
      await s.close()
    }
  })

  it('a base without /api: names the URL to use instead', async () => {
    const s = await serve(esplora(GENESIS.signet, '/api'))
    try {
      const msg = await misconfiguration(new EsploraClient(s.url, { network: 'signet' }).probe())
      assert.match(msg, /answered 404/)
      assert.ok(msg.includes(`try TW_CHAIN_URL=${s.url}/api`), msg)
    } finally {
      await s.close()
    }
  })

  it('a web page (HTML) instead of JSON: says so and names the API base', async () => {
    const s = await serve((_req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8')
      res.end('<!doctype html><html><body>mempool</body></html>')
    })
    try {
      const msg = await misconfiguration(new EsploraClient(s.url, { network: 'testnet4' }).probe())
      assert.match(msg, /web page \(HTML\)/)
      assert.match(msg, /https:\/\/mempool\.space\/testnet4\/api/)
    } finally {
      await s.close()
    }
  })

  it('another network: names the network the server serves and the one configured', async () => {
    const s = await serve(esplora(GENESIS.signet))
    try {
      const msg = await misconfiguration(new EsploraClient(s.url, { network: 'testnet4' }).probe())
      assert.match(msg, /serves the signet chain, but TW_NETWORK=testnet4/)
      assert.match(msg, /point TW_CHAIN_URL at a testnet4 Esplora/)
    } finally {
      await s.close()
    }
  })

  it('a server on the wrong network gets no wallet request: every call is refused', async () => {
    const s = await serve(esplora(GENESIS.mainnet))
    try {
      const client = new EsploraClient(s.url, { network: 'signet' })
      await misconfiguration(client.utxos(ADDRESS))
      await misconfiguration(client.broadcast('00'))
      assert.deepEqual(
        s.seen.filter((r) => r.path.startsWith('/address') || r.path === '/tx'),
        [],
        'no address lookup and no broadcast reached the server',
      )
    } finally {
      await s.close()
    }
  })

  it('a refused key (401) names TW_CHAIN_AUTH_HEADER; the header is sent and never appears in an error', async () => {
    const KEY = 'Bearer sk-live-0123456789abcdef'
    const s = await serve((req, res) => {
      if (req.headers['x-api-key'] !== KEY) {
        res.statusCode = 401
        return void res.end('{"error":"unauthorized"}')
      }
      if (req.url === '/api/blocks/tip/height') {
        res.statusCode = 503
        return void res.end('busy')
      }
      esplora(GENESIS.testnet4, '/api')(req, res)
    })
    try {
      assert.match(await misconfiguration(new EsploraClient(`${s.url}/api`, { network: 'testnet4' }).probe()), /set TW_CHAIN_AUTH_HEADER/)
      const wrongKey = new EsploraClient(`${s.url}/api`, { network: 'testnet4', authHeader: { name: 'X-Api-Key', value: 'nope' } })
      const wrongMsg = await misconfiguration(wrongKey.probe())
      assert.match(wrongMsg, /check the key in TW_CHAIN_AUTH_HEADER \(header X-Api-Key\)/)
      assert.ok(!wrongMsg.includes('nope'))

      const client = new EsploraClient(`${s.url}/api`, { network: 'testnet4', authHeader: { name: 'X-Api-Key', value: KEY }, retry: FAST_RETRY })
      assert.equal((await client.utxos(ADDRESS))[0].value, 5000)
      const err = await client.tipHeight().then(
        () => assert.fail('expected 503'),
        (e: Error) => e,
      )
      assert.ok(err instanceof ChainUnavailableError)
      assert.ok(!err.message.includes('sk-live'), 'the key is not in the error')
      assert.ok(s.seen.filter((r) => r.headers['x-api-key'] === KEY).length >= 4, 'the header went with every request')
    } finally {
      await s.close()
    }
  })
})

describe('EsploraClient: 429 and 5xx backoff, bounded concurrency', () => {
  it('retries 429 and 5xx until the server answers', async () => {
    let calls = 0
    const s = await serve((_req, res) => {
      calls++
      if (calls === 1) res.statusCode = 429
      else if (calls === 2) res.statusCode = 502
      res.end(calls >= 3 ? '812' : 'slow down')
    })
    try {
      const errors: string[] = []
      const client = new EsploraClient(s.url, { retry: FAST_RETRY, onRequestError: (k) => errors.push(k) })
      assert.equal(await client.tipHeight(), 812)
      assert.equal(calls, 3)
      assert.deepEqual(errors, [], 'a request that finally succeeded is no error')
    } finally {
      await s.close()
    }
  })

  it('gives up after the configured attempts with CHAIN_UNAVAILABLE and counts it in mpc_chain_request_errors_total', async () => {
    const s = await serve((_req, res) => {
      res.statusCode = 429
      res.end('rate limited')
    })
    try {
      const registry = new Registry()
      const client = new EsploraClient(s.url, { retry: FAST_RETRY, onRequestError: chainErrorCounter(registry) })
      await assert.rejects(client.tipHeight(), (e: Error) => e instanceof ChainUnavailableError && /HTTP 429/.test(e.message))
      assert.equal(s.seen.length, FAST_RETRY.maxAttempts)
      assert.match(await registry.metrics(), /mpc_chain_request_errors_total\{kind="rate_limited"\} 1\b/)
    } finally {
      await s.close()
    }
  })

  it('keeps at most maxConcurrency requests in flight and asks each address once for concurrent views', async () => {
    let inFlight = 0
    let maxInFlight = 0
    const s = await serve((req, res) => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      setTimeout(() => {
        inFlight--
        esplora(GENESIS.regtest)(req, res)
      }, 15)
    })
    try {
      const client = new EsploraClient(s.url, { maxConcurrency: 2 })
      const addresses = Array.from({ length: 10 }, (_, i) => `${ADDRESS.slice(0, -2)}${String(i).padStart(2, '0')}`)
      // Two balance views at once over the same ten addresses.
      const results = await Promise.all([...addresses, ...addresses].map((a) => client.utxos(a)))
      assert.equal(results.length, 20)
      for (const r of results) assert.equal(r[0].value, 5000)
      assert.ok(maxInFlight <= 2, `at most 2 requests in flight (saw ${maxInFlight})`)
      assert.equal(s.seen.length, 10, 'each address asked once')
    } finally {
      await s.close()
    }
  })
})

describe('connectChain: at start', () => {
  let closedUrl: string
  before(async () => {
    const s = await serve(() => undefined)
    closedUrl = s.url
    await s.close()
  })

  it('refuses to start on a misconfigured chain URL', async () => {
    const s = await serve(esplora(GENESIS.mainnet))
    try {
      await misconfiguration(connectChain({ url: s.url, network: 'regtest', authHeader: null, maxConcurrency: 4 }))
    } finally {
      await s.close()
    }
  })

  it('starts on an unreachable chain, warns, and refuses chain calls until the probe passes', async () => {
    const warnings: string[] = []
    const client = await connectChain({ url: closedUrl, network: 'regtest', authHeader: null, maxConcurrency: 4 }, undefined, (m) => warnings.push(m))
    assert.equal(warnings.length, 1)
    assert.match(warnings[0], /not reachable at start .*unreachable.*check TW_CHAIN_URL/)
    await assert.rejects(client.tipHeight(), (e: Error) => e instanceof ChainUnavailableError && !(e instanceof ChainMisconfiguredError))
  })
})

describe('the embedded regtest chain (apps/regtest) passes the probe', () => {
  let regtest: { url: string; close(): Promise<void> }
  before(async () => {
    const { startRegtest } = await import('@tw/regtest')
    regtest = await startRegtest({ port: 0 })
  })
  after(() => regtest.close())

  it("addressTxs: an address's history, mempool first, page after page (Esplora's 25), at most max", async () => {
    const client = new EsploraClient(regtest.url, { network: 'regtest' })
    const address = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080'
    const post = (path: string, body: unknown) => fetch(`${regtest.url}${path}`, { method: 'POST', body: JSON.stringify(body) })
    for (let i = 0; i < 27; i++) {
      await post('/regtest/faucet', { address, amountSats: 1_000 + i })
      await post('/regtest/mine', { blocks: 1 })
    }
    await post('/regtest/faucet', { address, amountSats: 999 })
    const all = await client.addressTxs(address, 1000)
    assert.equal(all.length, 28)
    assert.equal(all[0].confirmed, false)
    assert.equal(all[0].blockHeight, null)
    assert.ok(
      all.slice(1).every((t, i, a) => t.confirmed && (i === 0 || a[i - 1].blockHeight! > t.blockHeight!)),
      'confirmed, newest first',
    )
    const pays = (t: (typeof all)[number]) => t.outputs.find((o) => o.scriptPubKey === '0014751e76e8199196d454941c45d1b3a323f1433bd6')?.value
    assert.deepEqual(all.map(pays), [999, ...Array.from({ length: 27 }, (_, i) => 1_026 - i)])
    assert.ok(
      all.every((t) => t.inputScripts.length > 0 && t.inputScripts.every((sc) => typeof sc === 'string')),
      'prevout scripts of the faucet inputs',
    )
    assert.equal((await client.addressTxs(address, 26)).length, 26)
    // addressStats: confirmed and mempool together.
    assert.deepEqual(await client.addressStats(address), { txCount: 28, receivedSats: 999 + Array.from({ length: 27 }, (_, i) => 1_000 + i).reduce((a, b) => a + b, 0) })
  })

  it('as regtest, and is refused as signet', async () => {
    assert.equal((await new EsploraClient(regtest.url, { network: 'regtest' }).probe()).network, 'regtest')
    assert.match(await misconfiguration(new EsploraClient(regtest.url, { network: 'signet' }).probe()), /serves the regtest chain, but TW_NETWORK=signet/)
  })
})
