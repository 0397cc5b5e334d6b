import type {
  AddressDto,
  AuditVerifyDto,
  BalanceDto,
  ClusterRecoverRequest,
  ClusterRecoveryDto,
  ClusterStatusDto,
  CreateKeyRequest,
  DescriptorsDto,
  ErrorBody,
  HealthDto,
  KeyDto,
  KeyListDto,
  KeyRefreshDto,
  PresignatureJobsDto,
  PresignatureRequest,
  PresignatureStatusDto,
  SendRequest,
  TransactionDto,
  TransactionListDto,
  TransactionListQuery,
  WalletType,
  ViolationListDto,
  UnbanDto,
  AbandonDto,
  AbandonRequest,
  ReplaceRequest,
  DrillDto,
  DrillBehaviour,
  CreateTokenRequest,
  CreatedTokenDto,
  TokenDto,
  TokenListDto,
  QuoteDto,
  UtxoListDto,
  UtxoListQuery,
  DepositListDto,
  DepositListQuery,
  AddressListDto,
  AddressListQuery,
  CreateWebhookRequest,
  CreatedWebhookDto,
  EventFilter,
  WalletEventDto,
  WebhookDeliveryDto,
  WebhookDeliveryListDto,
  WebhookDto,
  WebhookListDto,
} from './dto'

/** `?k=v&...` of the set fields of a query object; '' when none is set. */
function queryString(query: object): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v))
  const qs = params.toString()
  return qs ? `?${qs}` : ''
}

/** Raised by {@link ApiClient} for any non-2xx answer or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export interface ApiClientOptions {
  /** Base URL of a node, e.g. `http://127.0.0.1:8081`. */
  baseUrl: string
  /** Bearer token, if the node requires one. */
  token?: string
  /** Per-request timeout in ms (default 30 000). */
  timeoutMs?: number
}

/** A typed client for one node's REST API. */
export class ApiClient {
  private readonly base: string
  constructor(private readonly opts: ApiClientOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '')
  }

  health(kind: 'all' | 'live' | 'ready' = 'all'): Promise<HealthDto> {
    const path = kind === 'all' ? '/health' : `/health/${kind}`
    return this.request<HealthDto>('GET', path, undefined, { acceptErrorBody: true })
  }
  clusterStatus(): Promise<ClusterStatusDto> {
    return this.request('GET', '/api/v1/cluster/status')
  }
  /** Rebuilds the cluster's state in etcd after it was lost (admin); `dryRun` writes nothing. */
  recoverCluster(body: ClusterRecoverRequest, timeoutMs?: number): Promise<ClusterRecoveryDto> {
    return this.request('POST', '/api/v1/cluster/recover', body, { timeoutMs })
  }
  listKeys(): Promise<KeyListDto> {
    return this.request('GET', '/api/v1/keys')
  }
  createKey(body: CreateKeyRequest, timeoutMs?: number): Promise<KeyDto> {
    return this.request('POST', '/api/v1/keys', body, { timeoutMs })
  }
  /** Starts a proactive share refresh of `keyId` (admin): same key and addresses, new shares. */
  refreshKey(keyId: string): Promise<KeyRefreshDto> {
    return this.request('POST', `/api/v1/keys/${encodeURIComponent(keyId)}/refresh`)
  }
  /** The key's latest share refresh and where it stands. */
  keyRefresh(keyId: string): Promise<KeyRefreshDto> {
    return this.request('GET', `/api/v1/keys/${encodeURIComponent(keyId)}/refresh`)
  }
  /** The node's audit log hash chain recomputed: ok, rows checked, the first broken row. */
  auditVerify(): Promise<AuditVerifyDto> {
    return this.request('GET', '/api/v1/audit/verify')
  }
  metrics(): Promise<string> {
    return this.request('GET', '/metrics', undefined, { text: true })
  }
  address(type: WalletType, change = false, label?: string): Promise<AddressDto> {
    return this.request('POST', '/api/v1/wallet/address', { type, change, ...(label !== undefined ? { label } : {}) })
  }
  /** Addresses handed out, newest first, with their labels and whether the chain has paid them. */
  addresses(query: AddressListQuery = {}): Promise<AddressListDto> {
    return this.request('GET', `/api/v1/wallet/addresses${queryString(query)}`)
  }
  balance(): Promise<BalanceDto> {
    return this.request('GET', '/api/v1/wallet/balance')
  }
  descriptors(): Promise<DescriptorsDto> {
    return this.request('GET', '/api/v1/wallet/descriptors')
  }
  /** The wallet's coins with their status and reservations. */
  utxos(query: UtxoListQuery = {}): Promise<UtxoListDto> {
    return this.request('GET', `/api/v1/wallet/utxos${queryString(query)}`)
  }
  /** Payments to the wallet's receive addresses, unconfirmed first, then newest first. */
  deposits(query: DepositListQuery = {}): Promise<DepositListDto> {
    return this.request('GET', `/api/v1/wallet/deposits${queryString(query)}`)
  }
  /** What `send(body)` would build now: coins, fee, size, change; nothing is reserved. */
  quote(body: SendRequest): Promise<QuoteDto> {
    return this.request('POST', '/api/v1/transactions/quote', body)
  }
  /** Starts a spend; the same `idempotencyKey` twice gives one transaction. */
  send(body: SendRequest, idempotencyKey?: string, timeoutMs?: number): Promise<TransactionDto> {
    return this.request('POST', '/api/v1/transactions', body, { timeoutMs, headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} })
  }
  /** One page of the node's transaction history (newest first); pass `nextCursor` back as `cursor` for the next. */
  transactions(query: TransactionListQuery = {}): Promise<TransactionListDto> {
    return this.request('GET', `/api/v1/transactions${queryString(query)}`)
  }
  transaction(id: string): Promise<TransactionDto> {
    return this.request('GET', `/api/v1/transactions/${encodeURIComponent(id)}`)
  }
  /** Admin: releases the coin reservations of a failed send the chain does not have (audited with `reason`). */
  /** Operator: a BIP125 replacement of a broadcast, unconfirmed transaction (the same payments at `feeRate`, or everything back to the wallet); follow it like a send. */
  replaceTransaction(id: string, kind: 'bump' | 'cancel', body: ReplaceRequest = {}): Promise<TransactionDto> {
    return this.request('POST', `/api/v1/transactions/${encodeURIComponent(id)}/${kind}`, body)
  }
  abandonTransaction(id: string, reason: string): Promise<AbandonDto> {
    return this.request('POST', `/api/v1/transactions/${encodeURIComponent(id)}/abandon`, { reason } satisfies AbandonRequest)
  }
  generatePresignatures(body: PresignatureRequest): Promise<PresignatureJobsDto> {
    return this.request('POST', '/api/v1/presignatures', body)
  }
  presignatureStatus(): Promise<PresignatureStatusDto> {
    return this.request('GET', '/api/v1/presignatures/status')
  }
  violations(): Promise<ViolationListDto> {
    return this.request('GET', '/api/v1/byzantine/violations')
  }
  unban(nodeId: number): Promise<UnbanDto> {
    return this.request('POST', `/api/v1/cluster/nodes/${nodeId}/unban`, {})
  }
  drill(): Promise<DrillDto> {
    return this.request('GET', '/api/v1/drill')
  }
  setDrill(behaviours: DrillBehaviour[]): Promise<DrillDto> {
    return this.request('POST', '/api/v1/drill', { behaviours })
  }
  /** Admin: a new token; `token` is in this answer only. */
  createToken(body: CreateTokenRequest): Promise<CreatedTokenDto> {
    return this.request('POST', '/api/v1/tokens', body)
  }
  /** Admin: every token (without secrets). */
  listTokens(): Promise<TokenListDto> {
    return this.request('GET', '/api/v1/tokens')
  }
  /** Admin: revoke a token; it stops working at once. */
  revokeToken(id: string): Promise<TokenDto> {
    return this.request('POST', `/api/v1/tokens/${encodeURIComponent(id)}/revoke`, {})
  }

  /** Admin: subscribe a URL to events; `secret` (which signs every delivery) is in this answer only. */
  createWebhook(body: CreateWebhookRequest): Promise<CreatedWebhookDto> {
    return this.request('POST', '/api/v1/webhooks', body)
  }
  /** Admin: every webhook with its delivery progress (never a secret). */
  webhooks(): Promise<WebhookListDto> {
    return this.request('GET', '/api/v1/webhooks')
  }
  webhook(id: string): Promise<WebhookDto> {
    return this.request('GET', `/api/v1/webhooks/${encodeURIComponent(id)}`)
  }
  deleteWebhook(id: string): Promise<WebhookDto> {
    return this.request('DELETE', `/api/v1/webhooks/${encodeURIComponent(id)}`)
  }
  webhookDeliveries(id: string, limit?: number): Promise<WebhookDeliveryListDto> {
    return this.request('GET', `/api/v1/webhooks/${encodeURIComponent(id)}/deliveries${queryString({ limit })}`)
  }
  /** Admin: a `webhook.ping` sent now by the node asked, and what the URL answered. */
  testWebhook(id: string): Promise<WebhookDeliveryDto> {
    return this.request('POST', `/api/v1/webhooks/${encodeURIComponent(id)}/test`, {})
  }

  /**
   * The event stream (`GET /api/v1/events`, Server-Sent Events), event by event. Ends when the
   * node closes it (`follow: false`: after the replay) or `signal` aborts; resumes after
   * `lastEventId` when given. No timeout: a followed stream stays open.
   *
   * @example
   * for await (const e of client.events({ types: ['deposit.*'], since: 0 })) console.log(e.type, e.data)
   */
  async *events(
    query: { types?: EventFilter[]; since?: number; follow?: boolean } = {},
    o: { signal?: AbortSignal; lastEventId?: number; onLastEventId?: (seq: number) => void; idleTimeoutMs?: number } = {},
  ): AsyncGenerator<WalletEventDto> {
    const headers: Record<string, string> = { accept: 'text/event-stream' }
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`
    if (o.lastEventId !== undefined) headers['last-event-id'] = String(o.lastEventId)
    const path = `/api/v1/events${queryString({ types: query.types?.join(','), since: query.since, follow: query.follow })}`
    // A stream that says nothing for this long (the node sends a keepalive every 15 s) is dead.
    const idleMs = o.idleTimeoutMs ?? 45_000
    const idle = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    const alive = () => {
      clearTimeout(timer)
      timer = setTimeout(() => idle.abort(), idleMs)
    }
    const signal = o.signal ? AbortSignal.any([o.signal, idle.signal]) : idle.signal
    let res: Response
    alive()
    try {
      res = await fetch(this.base + path, { headers, signal })
    } catch (err) {
      clearTimeout(timer)
      if (o.signal?.aborted) return
      throw new ApiError(0, 'UNREACHABLE', `GET ${this.base}${path}: ${idle.signal.aborted ? `no answer within ${idleMs} ms` : (err as Error).message}`)
    }
    if (!res.ok || !res.body) {
      clearTimeout(timer)
      const text = await res.text()
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        body = undefined
      }
      throw errorOf(res.status, body)
    }
    const decoder = new TextDecoder()
    let buffered = ''
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        alive()
        buffered += decoder.decode(chunk, { stream: true })
        for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
          const lines = buffered.slice(0, end).split('\n')
          buffered = buffered.slice(end + 2)
          const id = lines.find((l) => l.startsWith('id:'))
          if (id !== undefined && /^\d+$/.test(id.slice(3).trim())) o.onLastEventId?.(Number(id.slice(3).trim()))
          const data = lines
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart())
            .join('\n')
          if (data) yield JSON.parse(data) as WalletEventDto
        }
      }
    } catch (err) {
      if (o.signal?.aborted) return
      throw new ApiError(0, 'UNREACHABLE', `GET ${this.base}${path}: the stream broke (${idle.signal.aborted ? `nothing for ${idleMs} ms` : (err as Error).message})`)
    } finally {
      clearTimeout(timer)
    }
  }

  /** Low-level request; throws {@link ApiError} with the server's code on failure. */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    o: { timeoutMs?: number; text?: boolean; acceptErrorBody?: boolean; headers?: Record<string, string> } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { accept: o.text ? 'text/plain' : 'application/json', ...o.headers }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`
    let res: Response
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(o.timeoutMs ?? this.opts.timeoutMs ?? 30_000),
      })
    } catch (err) {
      const e = err as Error
      const timeout = e.name === 'TimeoutError'
      throw new ApiError(0, timeout ? 'TIMEOUT' : 'UNREACHABLE', `${method} ${this.base}${path}: ${timeout ? 'timed out' : e.message}`)
    }
    const text = await res.text()
    if (o.text && res.ok) return text as T
    let json: unknown
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      throw new ApiError(res.status, 'BAD_RESPONSE', `${method} ${path}: answer is not JSON (HTTP ${res.status})`)
    }
    if (res.ok || (o.acceptErrorBody && res.status === 503)) return json as T
    throw errorOf(res.status, json)
  }
}

/** The {@link ApiError} of a non-2xx answer: the node's `{error: {code, message, details}}`, else `HTTP_<status>`. */
function errorOf(status: number, body: unknown): ApiError {
  const err = (body as ErrorBody | undefined)?.error
  return new ApiError(status, err?.code ?? 'HTTP_' + status, err?.message ?? `HTTP ${status}`, err?.details)
}
