import { ExponentialBackoff, bulkhead, handleWhen, retry, wrap, type IPolicy } from 'cockatiel'
import { Counter, type Registry } from 'prom-client'
import { DomainError } from '../common/errors'
import type { BitcoinNetwork } from '../config/config'

/** An unspent output as the chain reports it. */
export interface ChainUtxo {
  txid: string
  vout: number
  value: number
  confirmed: boolean
  blockHeight: number | null
}

export interface ChainTxStatus {
  /** The chain knows the transaction (in a block or in the mempool). */
  found: boolean
  confirmed: boolean
  blockHeight: number | null
}

/**
 * What the wallet needs from a chain: the subset of the Esplora HTTP API served by
 * Blockstream/mempool.space (mainnet, testnet4, signet) and by `apps/regtest`.
 */
export interface ChainBackend {
  readonly url: string
  tipHeight(): Promise<number>
  /** The tip block's hash: it changes with every new block and every reorganisation. */
  tipHash(): Promise<string>
  utxos(address: string): Promise<ChainUtxo[]>
  txStatus(txid: string): Promise<ChainTxStatus>
  /** Who spends output `vout` of `txid` (in a block or in the mempool), if anyone. */
  outspend(txid: string, vout: number): Promise<ChainOutspend>
  /**
   * Broadcasts raw hex; resolves to the txid. Throws {@link ChainRejectedError} when the chain
   * refuses it (also when it refuses it only because it already has it: see
   * {@link ChainRejectedError.alreadyKnown}).
   */
  broadcast(hex: string): Promise<string>
  /** sat/vB by confirmation target (blocks). */
  feeEstimates(): Promise<Record<string, number>>
  /**
   * Transactions paying or spending `address`: mempool ones first, then confirmed ones newest
   * first, at most `max` in all (Esplora pages of 25 followed by txid).
   */
  addressTxs(address: string, max: number): Promise<ChainAddressTx[]>
  /** What `GET /address/<a>` tells of an address: transactions and satoshis paid to it (confirmed and mempool). */
  addressStats(address: string): Promise<{ txCount: number; receivedSats: number }>
}

/** A transaction touching an address, as `GET /address/<a>/txs` reports it (the parts the wallet reads). */
export interface ChainAddressTx {
  txid: string
  confirmed: boolean
  blockHeight: number | null
  /** Block time (unix seconds); null in the mempool. */
  blockTime: number | null
  /** scriptPubKey (hex) of the output each input spends; null for a coinbase input. */
  inputScripts: (string | null)[]
  outputs: { vout: number; scriptPubKey: string; value: number }[]
}

/** The spender of an output, as `GET /tx/<txid>/outspend/<vout>` reports it. */
export interface ChainOutspend {
  spent: boolean
  /** The spending transaction (null when unspent). */
  txid: string | null
  confirmed: boolean
}

/**
 * What Bitcoin Core (and Esplora, which passes its error through) answers when a broadcast
 * transaction is already known: RPC -27 "Transaction already in block chain" (newer Core:
 * "Transaction outputs already in utxo set"), "txn-already-in-mempool", "txn-already-known",
 * or "already known" from other backends. Core answers a transaction already in its mempool
 * with its txid (200), as apps/regtest does.
 */
const ALREADY_KNOWN = /already in block ?chain|already in utxo set|txn-already-in-mempool|txn-already-known|already known|"code":\s*-27\b/i

/** The chain API cannot be reached or answers nonsense (the request may succeed later). */
export class ChainUnavailableError extends DomainError {
  readonly code = 'CHAIN_UNAVAILABLE'
  readonly httpStatus = 503
}

/**
 * TW_CHAIN_URL answers, but not as the Esplora API of TW_NETWORK's chain (a web page, a base
 * without `/api`, another network, a refused credential): waiting will not fix it. The message
 * names the fix. The node refuses to start on it (see {@link connectChain}).
 */
export class ChainMisconfiguredError extends ChainUnavailableError {}

/** Genesis block hash of each network (Bitcoin Core's chainparams; testnet4: BIP 94). */
export const GENESIS: Record<BitcoinNetwork, string> = {
  mainnet: '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f',
  testnet: '000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943',
  testnet4: '00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043',
  signet: '00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6',
  regtest: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206',
}

/** A public Esplora API base for each network, for error messages and docs. */
export const PUBLIC_ESPLORA: Partial<Record<BitcoinNetwork, string>> = {
  mainnet: 'https://mempool.space/api',
  testnet: 'https://mempool.space/testnet/api',
  testnet4: 'https://mempool.space/testnet4/api',
  signet: 'https://mempool.space/signet/api',
}

/** What {@link EsploraClient.probe} found: the chain answers as TW_NETWORK's Esplora API. */
export interface ChainProbe {
  network: BitcoinNetwork
  tipHash: string
}

/** The chain refused a transaction (invalid, conflicting, non-standard). */
export class ChainRejectedError extends Error {
  constructor(readonly reason: string) {
    super(`the chain refused the transaction: ${reason}`)
    this.name = 'ChainRejectedError'
  }

  /** The refusal says the chain already has the transaction (in a block or its mempool): not a failure. */
  get alreadyKnown(): boolean {
    return ALREADY_KNOWN.test(this.reason)
  }
}

interface EsploraUtxo {
  txid: string
  vout: number
  value: number
  status: { confirmed: boolean; block_height?: number }
}

/** Esplora's page size for confirmed transactions of an address. */
const ESPLORA_CHAIN_PAGE = 25

interface EsploraTx {
  txid: string
  status: { confirmed: boolean; block_height?: number; block_time?: number }
  vin: { is_coinbase?: boolean; prevout?: { scriptpubkey?: string } | null }[]
  vout: { scriptpubkey: string; value: number }[]
}

function toAddressTx(t: EsploraTx): ChainAddressTx {
  return {
    txid: t.txid,
    confirmed: t.status.confirmed,
    blockHeight: t.status.block_height ?? null,
    blockTime: t.status.block_time ?? null,
    inputScripts: t.vin.map((i) => (i.is_coinbase ? null : (i.prevout?.scriptpubkey ?? null))),
    outputs: t.vout.map((o, vout) => ({ vout, scriptPubKey: o.scriptpubkey, value: o.value })),
  }
}

/** How an {@link EsploraClient} talks to its server. */
export interface EsploraOptions {
  /** Deadline of one HTTP request (each retry has its own). */
  timeoutMs?: number
  /**
   * The network the server must serve. When given, the client probes the server once (see
   * {@link EsploraClient.probe}) before its first call and refuses every call until the probe
   * passes: a wallet never reads coins from, or broadcasts to, the wrong chain.
   */
  network?: BitcoinNetwork
  /** A header sent with every request (a paid Esplora's API key). Never logged, never in an error. */
  authHeader?: { name: string; value: string } | null
  /** Requests in flight at once; the rest queue (a public Esplora rate-limits bursts). */
  maxConcurrency?: number
  /** Attempts per request on 429, 5xx and network errors, and the backoff between them. */
  retry?: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number }
  /** Called once per request that finally fails (after its retries), with the kind of failure. */
  onRequestError?: (kind: ChainErrorKind) => void
}

/** Why a chain request finally failed: no answer, rate-limited (429), server error (5xx), or another status. */
export type ChainErrorKind = 'unreachable' | 'rate_limited' | 'server_error' | 'http_error'

interface RawResponse {
  ok: boolean
  status: number
  text: string
  contentType: string
}

const DEFAULT_RETRY = { maxAttempts: 4, initialDelayMs: 250, maxDelayMs: 4_000 }

/** 429 and 5xx: the server may answer later (a public Esplora's rate limit, a restart). */
const RETRYABLE = (status: number): boolean => status === 429 || status >= 500

/**
 * Esplora HTTP client. Every call has a deadline; 429, 5xx and network failures are retried
 * with exponential backoff and jitter (cockatiel), at most `maxConcurrency` requests in flight
 * and identical reads in flight shared; what still fails becomes {@link ChainUnavailableError},
 * a 400 on broadcast a {@link ChainRejectedError}.
 *
 * @example
 * const chain = new EsploraClient('https://mempool.space/signet/api', { network: 'signet' })
 * await chain.probe() // throws ChainMisconfiguredError naming the fix, e.g. a base without /api
 * const height = await chain.tipHeight()
 */
export class EsploraClient implements ChainBackend {
  private readonly timeoutMs: number
  private readonly policy: IPolicy
  private readonly inflight = new Map<string, Promise<RawResponse>>()
  private verified: Promise<ChainProbe> | null = null

  constructor(
    readonly url: string,
    private readonly options: EsploraOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 10_000
    const r = options.retry ?? DEFAULT_RETRY
    const retryPolicy = retry(
      handleWhen((err) => err instanceof NetworkError).orWhenResult((res) => RETRYABLE((res as RawResponse).status)),
      { maxAttempts: r.maxAttempts - 1, backoff: new ExponentialBackoff({ initialDelay: r.initialDelayMs, maxDelay: r.maxDelayMs }) },
    )
    // The bulkhead outside the retry: a request waiting out its backoff keeps its slot, so a
    // rate-limited server is not hit harder by the requests queued behind it.
    this.policy = wrap(bulkhead(options.maxConcurrency ?? 4, Number.POSITIVE_INFINITY), retryPolicy)
  }

  /**
   * Checks that the server is the Esplora API of `options.network`: `GET /blocks/tip/hash`
   * answers a block hash (not a web page, not a 404 of a base without `/api`, not a 401/403) and
   * `GET /block-height/0` the network's genesis hash. Throws {@link ChainMisconfiguredError}
   * (naming the fix) when the server answers but wrongly, {@link ChainUnavailableError} when it
   * does not answer (or answers 429/5xx after the retries).
   */
  async probe(): Promise<ChainProbe> {
    const network = this.options.network ?? 'regtest'
    const tip = await this.raw('GET', '/blocks/tip/hash')
    this.checkAnswer(tip, '/blocks/tip/hash', network)
    const tipHash = tip.text.trim()
    if (!/^[0-9a-f]{64}$/.test(tipHash)) {
      throw new ChainMisconfiguredError(
        `TW_CHAIN_URL=${this.shown()} is not an Esplora API: GET /blocks/tip/hash answered ${JSON.stringify(tipHash.slice(0, 60))}, not a block hash. ${this.hint(network)}`,
      )
    }
    const g = await this.raw('GET', '/block-height/0')
    this.checkAnswer(g, '/block-height/0', network)
    const genesis = g.text.trim()
    if (genesis !== GENESIS[network]) {
      const actual = (Object.keys(GENESIS) as BitcoinNetwork[]).find((n) => GENESIS[n] === genesis)
      throw new ChainMisconfiguredError(
        `TW_CHAIN_URL=${this.shown()} serves ${actual ? `the ${actual} chain` : `an unknown chain (genesis ${genesis.slice(0, 64)})`}, but TW_NETWORK=${network}: ` +
          `point TW_CHAIN_URL at a ${network} Esplora${PUBLIC_ESPLORA[network] ? ` (e.g. ${PUBLIC_ESPLORA[network]})` : ''} or set TW_NETWORK to the chain's network`,
      )
    }
    return { network, tipHash }
  }

  async tipHeight(): Promise<number> {
    const text = await this.call('GET', '/blocks/tip/height')
    const h = Number(text)
    if (!Number.isInteger(h) || h < 0) throw new ChainUnavailableError(`chain answered a bad tip height: ${text.slice(0, 40)}`)
    return h
  }

  async tipHash(): Promise<string> {
    const text = (await this.call('GET', '/blocks/tip/hash')).trim()
    if (!/^[0-9a-f]{64}$/.test(text)) throw new ChainUnavailableError(`chain answered a bad tip hash: ${text.slice(0, 70)}`)
    return text
  }

  async utxos(address: string): Promise<ChainUtxo[]> {
    const path = `/address/${encodeURIComponent(address)}/utxo`
    const list = parseJson<EsploraUtxo[]>(await this.call('GET', path), path)
    return list.map((u) => ({
      txid: u.txid,
      vout: u.vout,
      value: u.value,
      confirmed: u.status.confirmed,
      blockHeight: u.status.block_height ?? null,
    }))
  }

  async txStatus(txid: string): Promise<ChainTxStatus> {
    const res = await this.request('GET', `/tx/${txid}/status`)
    if (res.status === 404 || res.status === 400) return { found: false, confirmed: false, blockHeight: null }
    if (!res.ok) throw new ChainUnavailableError(`chain: GET /tx/${txid}/status answered HTTP ${res.status}`)
    const s = parseJson<{ confirmed: boolean; block_height?: number }>(res.text, `/tx/${txid}/status`)
    if (s.confirmed) return { found: true, confirmed: true, blockHeight: s.block_height ?? null }
    // Esplora answers `{"confirmed":false}` for a transaction it has never seen too: only
    // GET /tx/<txid> (404 when unknown) tells a mempool transaction from an unknown one.
    const tx = await this.request('GET', `/tx/${txid}`)
    if (tx.status === 404 || tx.status === 400) return { found: false, confirmed: false, blockHeight: null }
    if (!tx.ok) throw new ChainUnavailableError(`chain: GET /tx/${txid} answered HTTP ${tx.status}`)
    return { found: true, confirmed: false, blockHeight: null }
  }

  async outspend(txid: string, vout: number): Promise<ChainOutspend> {
    const res = await this.request('GET', `/tx/${txid}/outspend/${vout}`)
    if (res.status === 404) return { spent: false, txid: null, confirmed: false }
    if (!res.ok) throw new ChainUnavailableError(`chain: GET /tx/${txid}/outspend/${vout} answered HTTP ${res.status}`)
    const s = parseJson<{ spent?: boolean; txid?: string; status?: { confirmed?: boolean } }>(res.text, `/tx/${txid}/outspend/${vout}`)
    return s.spent ? { spent: true, txid: s.txid ?? null, confirmed: Boolean(s.status?.confirmed) } : { spent: false, txid: null, confirmed: false }
  }

  async broadcast(hex: string): Promise<string> {
    // Retrying a broadcast is safe: the same raw transaction again is the same transaction.
    const res = await this.request('POST', '/tx', hex)
    // A 400 "already in block chain" / "already in mempool" is thrown too (alreadyKnown): the
    // caller asks the chain about its txid rather than trust either answer alone.
    if (res.status === 400) throw new ChainRejectedError(res.text.trim().slice(0, 500))
    if (!res.ok) throw new ChainUnavailableError(`chain: POST /tx answered HTTP ${res.status}`)
    return res.text.trim()
  }

  async addressStats(address: string): Promise<{ txCount: number; receivedSats: number }> {
    const path = `/address/${encodeURIComponent(address)}`
    type Stats = { tx_count?: number; funded_txo_sum?: number }
    const s = parseJson<{ chain_stats?: Stats; mempool_stats?: Stats }>(await this.call('GET', path), path)
    const n = (v: number | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
    return {
      txCount: n(s.chain_stats?.tx_count) + n(s.mempool_stats?.tx_count),
      receivedSats: n(s.chain_stats?.funded_txo_sum) + n(s.mempool_stats?.funded_txo_sum),
    }
  }

  async addressTxs(address: string, max: number): Promise<ChainAddressTx[]> {
    const base = `/address/${encodeURIComponent(address)}/txs`
    const first = parseJson<EsploraTx[]>(await this.call('GET', base), base)
    const out = first.map(toAddressTx)
    // The first page holds the mempool and up to 25 confirmed; each next page the 25 confirmed after the last.
    let page = first.filter((t) => t.status.confirmed)
    while (page.length === ESPLORA_CHAIN_PAGE && out.length < max) {
      const path = `${base}/chain/${page[page.length - 1].txid}`
      page = parseJson<EsploraTx[]>(await this.call('GET', path), path)
      out.push(...page.map(toAddressTx))
    }
    return out.slice(0, max)
  }

  async feeEstimates(): Promise<Record<string, number>> {
    return parseJson<Record<string, number>>(await this.call('GET', '/fee-estimates'), '/fee-estimates')
  }

  private async call(method: string, path: string): Promise<string> {
    const res = await this.request(method, path)
    if (!res.ok) throw new ChainUnavailableError(`chain: ${method} ${path} answered HTTP ${res.status}: ${res.text.slice(0, 200)}`)
    return res.text
  }

  /** A request after the one-time probe (when a network is configured). */
  private async request(method: string, path: string, body?: string): Promise<RawResponse> {
    if (this.options.network) await this.ready()
    return this.raw(method, path, body)
  }

  /** The probe, run once until it passes (a failed probe is run again by the next call). */
  private ready(): Promise<ChainProbe> {
    this.verified ??= this.probe().catch((err: unknown) => {
      this.verified = null
      throw err
    })
    return this.verified
  }

  /** Identical GETs in flight share one request: concurrent balance views ask each address once. */
  private raw(method: string, path: string, body?: string): Promise<RawResponse> {
    if (method !== 'GET') return this.send(method, path, body)
    const known = this.inflight.get(path)
    if (known) return known
    const p = this.send(method, path).finally(() => this.inflight.delete(path))
    this.inflight.set(path, p)
    return p
  }

  private async send(method: string, path: string, body?: string): Promise<RawResponse> {
    const headers: Record<string, string> = {}
    if (body !== undefined) headers['content-type'] = 'text/plain'
    if (this.options.authHeader) headers[this.options.authHeader.name] = this.options.authHeader.value
    let res: RawResponse
    try {
      res = await this.policy.execute(async () => {
        try {
          const r = await fetch(this.url + path, { method, body, headers, signal: AbortSignal.timeout(this.timeoutMs) })
          return { ok: r.ok, status: r.status, text: await r.text(), contentType: r.headers.get('content-type') ?? '' }
        } catch (err) {
          throw new NetworkError((err as Error).message)
        }
      })
    } catch (err) {
      this.options.onRequestError?.('unreachable')
      throw new ChainUnavailableError(`chain ${this.shown()} unreachable: ${(err as Error).message}; check TW_CHAIN_URL and that the chain API is up`)
    }
    if (res.status === 429) this.options.onRequestError?.('rate_limited')
    else if (res.status >= 500) this.options.onRequestError?.('server_error')
    else if (!res.ok && res.status !== 404 && res.status !== 400) this.options.onRequestError?.('http_error')
    return res
  }

  /** The probe's verdict on one answer: HTML, 404, 401/403 are misconfigurations; 429/5xx are not. */
  private checkAnswer(res: RawResponse, path: string, network: BitcoinNetwork): void {
    const html = /html/i.test(res.contentType) || /^\s*</.test(res.text)
    if (html) {
      throw new ChainMisconfiguredError(`TW_CHAIN_URL=${this.shown()} answers a web page (HTML) to GET ${path}, not the Esplora API. ${this.hint(network)}`)
    }
    if (res.status === 401 || res.status === 403) {
      throw new ChainMisconfiguredError(
        `TW_CHAIN_URL=${this.shown()} refused GET ${path} (HTTP ${res.status}): ` +
          (this.options.authHeader
            ? `check the key in TW_CHAIN_AUTH_HEADER (header ${this.options.authHeader.name})`
            : 'this server wants a key: set TW_CHAIN_AUTH_HEADER="Header-Name: value"'),
      )
    }
    if (res.status === 404) {
      throw new ChainMisconfiguredError(`TW_CHAIN_URL=${this.shown()} has no Esplora API: GET ${path} answered 404. ${this.hint(network)}`)
    }
    if (!res.ok) throw new ChainUnavailableError(`chain ${this.shown()}: GET ${path} answered HTTP ${res.status}: ${res.text.slice(0, 120)}`)
  }

  /** The fix for a base that is not the API: `/api` appended, or a public server's base. */
  private hint(network: BitcoinNetwork): string {
    const example = PUBLIC_ESPLORA[network]
    if (!/\/api$/.test(this.url)) return `The API base usually ends in /api: try TW_CHAIN_URL=${this.shown()}/api${example ? ` (e.g. ${example})` : ''}`
    return example ? `Give the Esplora API base, e.g. ${example}` : 'Give the Esplora API base (for the devnet chain: http://<host>:<port>, as `tw-regtest` prints)'
  }

  /** The URL without credentials, for messages. */
  private shown(): string {
    try {
      const u = new URL(this.url)
      u.username = ''
      u.password = ''
      return u.toString().replace(/\/+$/, '')
    } catch {
      return '<TW_CHAIN_URL>'
    }
  }
}

/** No HTTP answer at all (refused, reset, DNS, deadline): retried like a 5xx. */
class NetworkError extends Error {}

function parseJson<T>(text: string, path: string): T {
  try {
    return JSON.parse(text) as T
  } catch {
    throw new ChainUnavailableError(`chain: GET ${path} answered nonsense: ${text.slice(0, 80)}`)
  }
}

/**
 * The node's chain client, probed before the node starts: a server that answers wrongly
 * (HTML, no `/api`, another network, a refused key) stops the start with
 * {@link ChainMisconfiguredError}; a server that does not answer yet lets the node start
 * not ready (`/health/ready` reports the chain down with the reason) and is probed again
 * before the first chain call.
 */
export async function connectChain(
  config: { url: string; network: BitcoinNetwork; authHeader: { name: string; value: string } | null; maxConcurrency: number },
  onRequestError?: (kind: ChainErrorKind) => void,
  warn: (message: string) => void = () => undefined,
): Promise<EsploraClient> {
  const client = new EsploraClient(config.url, { network: config.network, authHeader: config.authHeader, maxConcurrency: config.maxConcurrency, onRequestError })
  try {
    await client.probe()
  } catch (err) {
    if (err instanceof ChainMisconfiguredError) throw err
    warn(`chain not reachable at start (${(err as Error).message}); the node starts not ready and probes it again before the first chain call`)
  }
  return client
}

/** Nest injection token of the node's {@link ChainBackend} (null when TW_CHAIN_URL is unset). */
export const CHAIN = Symbol('CHAIN')

/** `mpc_chain_request_errors_total{kind}` in `registry`, as an `onRequestError` for {@link connectChain}. */
export function chainErrorCounter(registry: Registry): (kind: ChainErrorKind) => void {
  const counter = new Counter({
    name: 'mpc_chain_request_errors_total',
    help: 'Chain API requests that failed after their retries (unreachable, rate_limited, server_error, http_error)',
    labelNames: ['kind'] as const,
    registers: [registry],
  })
  for (const kind of ['unreachable', 'rate_limited', 'server_error', 'http_error'] as const) counter.inc({ kind }, 0)
  return (kind) => counter.inc({ kind })
}
