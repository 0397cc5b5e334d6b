import { DomainError } from '../common/errors'

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
  /** Broadcasts raw hex; resolves to the txid. Throws {@link ChainRejectedError} when the chain refuses it. */
  broadcast(hex: string): Promise<string>
  /** sat/vB by confirmation target (blocks). */
  feeEstimates(): Promise<Record<string, number>>
}

/** The chain API cannot be reached or answers nonsense (the request may succeed later). */
export class ChainUnavailableError extends DomainError {
  readonly code = 'CHAIN_UNAVAILABLE'
  readonly httpStatus = 503
}

/** The chain refused a transaction (invalid, conflicting, non-standard). */
export class ChainRejectedError extends Error {
  constructor(readonly reason: string) {
    super(`the chain refused the transaction: ${reason}`)
    this.name = 'ChainRejectedError'
  }
}

interface EsploraUtxo {
  txid: string
  vout: number
  value: number
  status: { confirmed: boolean; block_height?: number }
}

/**
 * Esplora HTTP client. Every call has a deadline; network failures and 5xx become
 * {@link ChainUnavailableError}, a 400 on broadcast a {@link ChainRejectedError}.
 *
 * @example
 * const chain = new EsploraClient('http://127.0.0.1:3002')
 * const height = await chain.tipHeight()
 */
export class EsploraClient implements ChainBackend {
  constructor(
    readonly url: string,
    private readonly timeoutMs = 10_000,
  ) {}

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
    const list = JSON.parse(await this.call('GET', `/address/${encodeURIComponent(address)}/utxo`)) as EsploraUtxo[]
    return list.map((u) => ({
      txid: u.txid,
      vout: u.vout,
      value: u.value,
      confirmed: u.status.confirmed,
      blockHeight: u.status.block_height ?? null,
    }))
  }

  async txStatus(txid: string): Promise<ChainTxStatus> {
    const res = await this.raw('GET', `/tx/${txid}/status`)
    if (res.status === 404 || res.status === 400) return { found: false, confirmed: false, blockHeight: null }
    if (!res.ok) throw new ChainUnavailableError(`chain: GET /tx/${txid}/status answered HTTP ${res.status}`)
    const s = JSON.parse(res.text) as { confirmed: boolean; block_height?: number }
    return { found: true, confirmed: s.confirmed, blockHeight: s.block_height ?? null }
  }

  async broadcast(hex: string): Promise<string> {
    const res = await this.raw('POST', '/tx', hex)
    if (res.status === 400) throw new ChainRejectedError(res.text.trim().slice(0, 500))
    if (!res.ok) throw new ChainUnavailableError(`chain: POST /tx answered HTTP ${res.status}`)
    return res.text.trim()
  }

  async feeEstimates(): Promise<Record<string, number>> {
    return JSON.parse(await this.call('GET', '/fee-estimates')) as Record<string, number>
  }

  private async call(method: string, path: string): Promise<string> {
    const res = await this.raw(method, path)
    if (!res.ok) throw new ChainUnavailableError(`chain: ${method} ${path} answered HTTP ${res.status}: ${res.text.slice(0, 200)}`)
    return res.text
  }

  private async raw(method: string, path: string, body?: string): Promise<{ ok: boolean; status: number; text: string }> {
    try {
      const res = await fetch(this.url + path, {
        method,
        body,
        headers: body === undefined ? {} : { 'content-type': 'text/plain' },
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      return { ok: res.ok, status: res.status, text: await res.text() }
    } catch (err) {
      throw new ChainUnavailableError(`chain ${this.url} unreachable: ${(err as Error).message}`)
    }
  }
}

/** Nest injection token of the node's {@link ChainBackend} (null when TW_CHAIN_URL is unset). */
export const CHAIN = Symbol('CHAIN')
