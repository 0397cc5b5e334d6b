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
    if (s.confirmed) return { found: true, confirmed: true, blockHeight: s.block_height ?? null }
    // Esplora answers `{"confirmed":false}` for a transaction it has never seen too: only
    // GET /tx/<txid> (404 when unknown) tells a mempool transaction from an unknown one.
    const tx = await this.raw('GET', `/tx/${txid}`)
    if (tx.status === 404 || tx.status === 400) return { found: false, confirmed: false, blockHeight: null }
    if (!tx.ok) throw new ChainUnavailableError(`chain: GET /tx/${txid} answered HTTP ${tx.status}`)
    return { found: true, confirmed: false, blockHeight: null }
  }

  async outspend(txid: string, vout: number): Promise<ChainOutspend> {
    const res = await this.raw('GET', `/tx/${txid}/outspend/${vout}`)
    if (res.status === 404) return { spent: false, txid: null, confirmed: false }
    if (!res.ok) throw new ChainUnavailableError(`chain: GET /tx/${txid}/outspend/${vout} answered HTTP ${res.status}`)
    let s: { spent?: boolean; txid?: string; status?: { confirmed?: boolean } }
    try {
      s = JSON.parse(res.text) as typeof s
    } catch {
      throw new ChainUnavailableError(`chain: GET /tx/${txid}/outspend/${vout} answered nonsense: ${res.text.slice(0, 80)}`)
    }
    return s.spent ? { spent: true, txid: s.txid ?? null, confirmed: Boolean(s.status?.confirmed) } : { spent: false, txid: null, confirmed: false }
  }

  async broadcast(hex: string): Promise<string> {
    const res = await this.raw('POST', '/tx', hex)
    // A 400 "already in block chain" / "already in mempool" is thrown too (alreadyKnown): the
    // caller asks the chain about its txid rather than trust either answer alone.
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
