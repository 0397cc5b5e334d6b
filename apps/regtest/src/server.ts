// The Esplora HTTP API subset over a Chain, plus /regtest devnet routes. node:http, no framework.
// Every route answers at / and at /api/ (mempool.js always adds /api/).
import { createHash } from 'node:crypto'
import * as http from 'node:http'
import { Chain, FAUCET_ADDRESS, RejectError, TxRecord } from './chain'
import { HASH_RE, displayHash } from './network'
import { AddressError, addressScript, hex, scriptAddress, scriptAsm, scriptType } from './script-format'

const MAX_BODY = 1_000_000
const CHAIN_TXS_PER_PAGE = 25
const MAX_MEMPOOL_TXS = 50

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** A /regtest route error: JSON {error:{code,message}}. */
class DevError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

type Reply = { status?: number; json?: unknown; text?: string; binary?: Buffer }

export interface ServerInfo {
  dataDir?: string
  blockIntervalMs: number
}

export function createHandler(chain: Chain, info: ServerInfo) {
  const fmt = new Formatter(chain)
  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    res.setHeader('Access-Control-Allow-Origin', '*')
    const url = new URL(req.url ?? '/', 'http://localhost')
    let p = url.pathname
    if (p === '/api' || p.startsWith('/api/')) p = p.slice(4) || '/'
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type' })
      res.end()
      return
    }
    const dev = p.startsWith('/regtest/')
    try {
      const body = req.method === 'POST' ? await readBody(req) : ''
      const reply = route(chain, fmt, info, req.method ?? 'GET', p.split('/').slice(1), body, url)
      send(res, reply)
    } catch (e) {
      if (e instanceof DevError) {
        send(res, { status: e.status, json: { error: { code: e.code, message: e.message } } })
      } else if (e instanceof HttpError) {
        if (dev) send(res, { status: e.status, json: { error: { code: e.status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', message: e.message } } })
        else send(res, { status: e.status, text: e.message })
      } else {
        const msg = e instanceof Error ? e.message : String(e)
        process.stderr.write(`tw-regtest: internal error on ${req.method} ${p}: ${e instanceof Error ? e.stack : msg}\n`)
        if (dev) send(res, { status: 500, json: { error: { code: 'INTERNAL', message: msg } } })
        else send(res, { status: 500, text: msg })
      }
    }
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'Request body too large'))
        req.destroy()
      } else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function send(res: http.ServerResponse, r: Reply): void {
  if (res.headersSent) return
  const status = r.status ?? 200
  if (r.binary) {
    res.writeHead(status, { 'Content-Type': 'application/octet-stream', 'Content-Length': r.binary.length })
    res.end(r.binary)
  } else if (r.json !== undefined) {
    const b = Buffer.from(JSON.stringify(r.json))
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': b.length })
    res.end(b)
  } else {
    const b = Buffer.from(r.text ?? '')
    res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': b.length })
    res.end(b)
  }
}

function parseHash(s: string | undefined): string {
  if (s === undefined || !/^[0-9a-fA-F]{64}$/.test(s)) throw new HttpError(400, 'Invalid hex string')
  return s.toLowerCase()
}

function parseNum(s: string | undefined): number {
  if (s === undefined || !/^\d+$/.test(s)) throw new HttpError(400, 'Invalid number')
  return Number(s)
}

function parseAddress(a: string): Buffer {
  try {
    return Buffer.from(addressScript(a))
  } catch (e) {
    throw new HttpError(400, e instanceof AddressError ? e.message : 'Invalid Bitcoin address')
  }
}

function parseJson(body: string): Record<string, unknown> {
  if (body.trim() === '') return {}
  try {
    const v = JSON.parse(body) as unknown
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>
  } catch {
    /* fall through */
  }
  throw new DevError(400, 'BAD_REQUEST', 'body must be a JSON object')
}

function route(chain: Chain, fmt: Formatter, info: ServerInfo, method: string, seg: string[], body: string, url: URL): Reply {
  const [a, b, c, d] = seg
  const n = seg.length
  if (method === 'GET') {
    // ---- blocks
    if (a === 'blocks' && b === 'tip' && n === 3 && c === 'height') return { text: String(chain.height) }
    if (a === 'blocks' && b === 'tip' && n === 3 && c === 'hash') return { text: chain.tip.hash }
    if (a === 'blocks' && n <= 2) {
      const start = b !== undefined && /^\d+$/.test(b) ? Number(b) : chain.height
      if (start > chain.height) throw new HttpError(404, 'Block not found')
      const out = []
      for (let h = start; h >= 0 && out.length < 10; h--) out.push(fmt.block(chain.blockAt(h)!.hash))
      return { json: out }
    }
    if (a === 'block-height' && n === 2) {
      const blk = chain.blockAt(parseNum(b))
      if (!blk) throw new HttpError(404, 'Block not found')
      return { text: blk.hash }
    }
    if (a === 'block' && n >= 2) {
      const hash = parseHash(b)
      if (c === 'status' && n === 3) {
        const blk = chain.block(hash)
        return { json: { in_best_chain: !!blk, height: blk?.height ?? null, next_best: blk ? (chain.blockAt(blk.height + 1)?.hash ?? null) : null } }
      }
      const blk = chain.block(hash)
      if (!blk) throw new HttpError(404, 'Block not found')
      if (n === 2) return { json: fmt.block(hash) }
      if (c === 'txids' && n === 3) return { json: blk.txids }
      if (c === 'header' && n === 3) return { text: hex(blk.raw.subarray(0, 80)) }
      if (c === 'raw' && n === 3) return { binary: blk.raw }
      if (c === 'txid' && n === 4) {
        const t = blk.txids[parseNum(d)]
        if (!t) throw new HttpError(404, 'tx index out of range')
        return { text: t }
      }
      if (c === 'txs' && (n === 3 || n === 4)) {
        const start = d !== undefined && /^\d+$/.test(d) ? Number(d) : 0
        if (start % 25 !== 0) throw new HttpError(400, 'start index must be a multiple of 25')
        if (start > 0 && start >= blk.txids.length) throw new HttpError(400, 'start index out of range')
        return { json: blk.txids.slice(start, start + 25).map((t) => fmt.tx(chain.tx(t)!)) }
      }
    }
    // ---- transactions
    if (a === 'tx' && n >= 2) {
      const txid = parseHash(b)
      const rec = chain.tx(txid)
      if (c === 'status' && n === 3) return { json: rec ? fmt.status(rec) : { confirmed: false } }
      if (c === 'outspend' && n === 4) {
        const vout = parseNum(d)
        return { json: fmt.outspend(txid, vout) }
      }
      if (!rec) throw new HttpError(404, 'Transaction not found')
      if (n === 2) return { json: fmt.tx(rec) }
      if (c === 'hex' && n === 3) return { text: rec.raw.toString('hex') }
      if (c === 'raw' && n === 3) return { binary: rec.raw }
      if (c === 'outspends' && n === 3) return { json: rec.tx.outs.map((_, v) => fmt.outspend(txid, v)) }
    }
    // ---- addresses and scripthashes
    if ((a === 'address' || a === 'scripthash') && n >= 2) {
      const script = a === 'address' ? parseAddress(b) : null
      const scriptHex = script ? script.toString('hex') : scripthashToScript(chain, fmt, b)
      const echo = a === 'address' ? { address: b } : { scripthash: b }
      if (n === 2) return { json: { ...echo, ...fmt.stats(scriptHex) } }
      if (c === 'utxo' && n === 3) {
        return {
          json: chain.unspent(scriptHex).map((u) => ({ txid: u.txid, vout: u.vout, status: fmt.status(chain.tx(u.txid)!), value: Number(u.value) })),
        }
      }
      if (c === 'txs') {
        const mempool = chain.mempoolHistory(scriptHex).reverse()
        const confirmed = chain.chainHistory(scriptHex).slice().reverse()
        if (n === 3) {
          return { json: [...mempool.slice(0, MAX_MEMPOOL_TXS), ...confirmed.slice(0, CHAIN_TXS_PER_PAGE).map((t) => chain.tx(t)!)].map((r) => fmt.tx(r)) }
        }
        if (d === 'mempool' && n === 4) return { json: mempool.slice(0, MAX_MEMPOOL_TXS).map((r) => fmt.tx(r)) }
        if (d === 'chain' && (n === 4 || n === 5)) {
          let from = 0
          const last = seg[4]
          if (last !== undefined && HASH_RE.test(last.toLowerCase())) {
            const i = confirmed.indexOf(last.toLowerCase())
            if (i < 0) return { json: [] }
            from = i + 1
          }
          return { json: confirmed.slice(from, from + CHAIN_TXS_PER_PAGE).map((t) => fmt.tx(chain.tx(t)!)) }
        }
      }
    }
    // ---- fees and mempool
    if (a === 'fee-estimates' && n === 1) return { json: feeEstimates() }
    if (a === 'mempool' && n === 1) return { json: fmt.mempool() }
    if (a === 'mempool' && b === 'txids' && n === 2) return { json: [...chain.mempool.keys()] }
    if (a === 'mempool' && b === 'recent' && n === 2) {
      return {
        json: [...chain.mempool.values()]
          .reverse()
          .slice(0, 10)
          .map((r) => ({ txid: r.txid, fee: Number(r.fee), vsize: Math.ceil(r.weight / 4), value: Number(r.prevouts.reduce((s, p) => s + (p?.value ?? 0n), 0n)) })),
      }
    }
    if (a === 'broadcast' && n === 1) return postTx(chain, url.searchParams.get('tx') ?? '')
    // ---- devnet
    if (a === 'regtest' && b === 'info' && n === 2) {
      const spendable = chain.faucetCoins().reduce((s, c) => s + c.value, 0n)
      return {
        json: {
          network: 'regtest',
          height: chain.height,
          tipHash: chain.tip.hash,
          mempoolCount: chain.mempool.size,
          faucet: { address: FAUCET_ADDRESS, spendableSats: Number(spendable) },
          dataDir: info.dataDir ?? null,
          blockIntervalMs: info.blockIntervalMs,
        },
      }
    }
  }
  if (method === 'POST') {
    if (a === 'tx' && n === 1) return postTx(chain, body)
    if (a === 'regtest' && b === 'mine' && n === 2) {
      const j = parseJson(body)
      const blocks = j.blocks === undefined ? 1 : j.blocks
      if (typeof blocks !== 'number' || !Number.isInteger(blocks) || blocks < 1 || blocks > 1000) {
        throw new DevError(400, 'BAD_REQUEST', 'blocks must be an integer from 1 to 1000')
      }
      let script: Buffer | undefined
      if (j.address !== undefined) {
        if (typeof j.address !== 'string') throw new DevError(400, 'BAD_REQUEST', 'address must be a string')
        script = devAddress(j.address)
      }
      const hashes = chain.mine(blocks, script)
      return { json: { hashes, height: chain.height } }
    }
    if (a === 'regtest' && b === 'faucet' && n === 2) {
      const j = parseJson(body)
      if (typeof j.address !== 'string') throw new DevError(400, 'BAD_REQUEST', 'address is required')
      const script = devAddress(j.address)
      const amt = j.amountSats
      const ok = (typeof amt === 'number' && Number.isSafeInteger(amt)) || (typeof amt === 'string' && /^\d+$/.test(amt))
      if (!ok || BigInt(amt as number | string) < 1n) throw new DevError(400, 'BAD_REQUEST', 'amountSats must be a positive integer')
      try {
        return { json: { txid: chain.faucet(script, BigInt(amt as number | string)) } }
      } catch (e) {
        if (e instanceof RejectError && e.rpcCode === -6) throw new DevError(400, 'INSUFFICIENT_FUNDS', e.message)
        if (e instanceof RejectError) throw new DevError(500, 'INTERNAL', `faucet tx refused: ${e.message}`)
        throw e
      }
    }
  }
  throw new HttpError(404, `endpoint does not exist "/${seg.join('/')}"`)
}

function devAddress(a: string): Buffer {
  try {
    return Buffer.from(addressScript(a))
  } catch (e) {
    throw new DevError(400, 'BAD_ADDRESS', `${a}: ${e instanceof AddressError ? e.message : 'Invalid Bitcoin address'}`)
  }
}

function scripthashToScript(chain: Chain, fmt: Formatter, h: string): string {
  if (!HASH_RE.test(h)) throw new HttpError(400, 'Invalid scripthash')
  return fmt.scriptForHash(h) ?? ''
}

function postTx(chain: Chain, body: string): Reply {
  try {
    return { text: chain.acceptTx(body) }
  } catch (e) {
    if (e instanceof RejectError) {
      return { status: 400, text: `sendrawtransaction RPC error: ${JSON.stringify({ code: e.rpcCode, message: e.message })}` }
    }
    throw e
  }
}

/** Fixed, plausible estimates for every target Esplora serves (sat/vB). */
export function feeEstimates(): Record<string, number> {
  const out: Record<string, number> = {}
  for (let t = 1; t <= 25; t++) out[String(t)] = Math.max(1, Math.round((2.1 - t * 0.1) * 10) / 10)
  for (const t of [144, 504, 1008]) out[String(t)] = 1
  return out
}

/** Esplora JSON shapes (esplora-api.md §2). */
class Formatter {
  private readonly hashToScript = new Map<string, string>()
  constructor(private readonly chain: Chain) {}

  scriptForHash(h: string): string | undefined {
    // Scripthash = sha256(script), unreversed. Scan the known scripts lazily.
    const found = this.hashToScript.get(h)
    if (found !== undefined) return found
    const visit = (s: Uint8Array) => {
      const sh = hex(s)
      const k = createHash('sha256').update(s).digest('hex')
      if (!this.hashToScript.has(k)) this.hashToScript.set(k, sh)
    }
    for (const blk of this.chain.blocks) for (const t of blk.txids) this.chain.tx(t)!.tx.outs.forEach((o) => visit(o.script))
    for (const r of this.chain.mempool.values()) r.tx.outs.forEach((o) => visit(o.script))
    return this.hashToScript.get(h)
  }

  status(r: TxRecord) {
    if (r.height === undefined) return { confirmed: false }
    const blk = this.chain.blockAt(r.height)!
    return { confirmed: true, block_height: r.height, block_hash: blk.hash, block_time: blk.block.timestamp }
  }

  vout(script: Uint8Array, value: bigint) {
    const addr = scriptAddress(script)
    return {
      scriptpubkey: hex(script),
      scriptpubkey_asm: scriptAsm(script),
      scriptpubkey_type: scriptType(script),
      ...(addr ? { scriptpubkey_address: addr } : {}),
      value: Number(value),
    }
  }

  tx(r: TxRecord) {
    const coinbase = r.tx.isCoinbase()
    return {
      txid: r.txid,
      version: r.tx.version,
      locktime: r.tx.locktime,
      vin: r.tx.ins.map((input, i) => {
        const prev = r.prevouts[i]
        return {
          txid: displayHash(input.hash),
          vout: input.index,
          prevout: prev ? this.vout(prev.script, prev.value) : null,
          scriptsig: hex(input.script),
          scriptsig_asm: scriptAsm(input.script),
          ...(input.witness.length ? { witness: input.witness.map(hex) } : {}),
          is_coinbase: coinbase,
          sequence: input.sequence,
        }
      }),
      vout: r.tx.outs.map((o) => this.vout(o.script, o.value)),
      size: r.raw.length,
      weight: r.weight,
      fee: Number(r.fee),
      status: this.status(r),
    }
  }

  block(hash: string) {
    const b = this.chain.block(hash)!
    return {
      id: b.hash,
      height: b.height,
      version: b.block.version,
      timestamp: b.block.timestamp,
      tx_count: b.txids.length,
      size: b.raw.length,
      weight: b.block.weight(),
      merkle_root: displayHash(b.block.merkleRoot as Uint8Array),
      previousblockhash: b.height === 0 ? null : displayHash(b.block.prevHash as Uint8Array),
      mediantime: b.mediantime,
      nonce: b.block.nonce,
      bits: b.block.bits,
      difficulty: difficulty(b.block.bits),
    }
  }

  outspend(txid: string, vout: number) {
    const s = this.chain.spender(txid, vout)
    if (!s) return { spent: false }
    return { spent: true, txid: s.txid, vin: s.vin, status: this.status(this.chain.tx(s.txid)!) }
  }

  stats(scriptHex: string) {
    const tally = (recs: TxRecord[]) => {
      const st = { tx_count: recs.length, funded_txo_count: 0, funded_txo_sum: 0, spent_txo_count: 0, spent_txo_sum: 0 }
      for (const r of recs) {
        for (const o of r.tx.outs) {
          if (hex(o.script) === scriptHex) {
            st.funded_txo_count++
            st.funded_txo_sum += Number(o.value)
          }
        }
        for (const p of r.prevouts) {
          if (p && p.script.toString('hex') === scriptHex) {
            st.spent_txo_count++
            st.spent_txo_sum += Number(p.value)
          }
        }
      }
      return st
    }
    return {
      chain_stats: tally(this.chain.chainHistory(scriptHex).map((t) => this.chain.tx(t)!)),
      mempool_stats: tally(this.chain.mempoolHistory(scriptHex)),
    }
  }

  mempool() {
    const recs = [...this.chain.mempool.values()]
    const entries = recs.map((r) => ({ rate: Number(r.fee) / Math.ceil(r.weight / 4), vsize: Math.ceil(r.weight / 4) })).sort((x, y) => y.rate - x.rate)
    const histogram: [number, number][] = []
    let binSize = 0
    let binRate = 0
    for (const e of entries) {
      binSize += e.vsize
      binRate = e.rate
      if (binSize >= 50_000) {
        histogram.push([binRate, binSize])
        binSize = 0
      }
    }
    if (binSize > 0) histogram.push([binRate, binSize])
    return {
      count: recs.length,
      vsize: entries.reduce((s, e) => s + e.vsize, 0),
      total_fee: recs.reduce((s, r) => s + Number(r.fee), 0),
      fee_histogram: histogram,
    }
  }
}

function difficulty(bits: number): number {
  const target = (exp: number, mant: number) => mant * 2 ** (8 * (exp - 3))
  return target(0x1d, 0x00ffff) / target(bits >>> 24, bits & 0x007fffff)
}
