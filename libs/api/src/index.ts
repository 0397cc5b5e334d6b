/**
 * The REST contract of a threshold-wallet node (`/api/v1`, plus `/health` and `/metrics`).
 * Shared by the node (which serves it) and the CLI (which calls it through {@link ApiClient}).
 */

/** Stable error codes in `{ error: { code, message, details } }`. */
export const ErrorCodes = [
  'BAD_REQUEST',
  'VALIDATION_FAILED',
  'NOT_FOUND',
  'CONFLICT',
  'NOT_LEADER',
  'CLUSTER_UNAVAILABLE',
  'DEPENDENCY_UNAVAILABLE',
  'KEY_EXISTS',
  'DKG_FAILED',
  'TIMEOUT',
  'PEER_MISBEHAVED',
  'INTERNAL',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'PAYLOAD_TOO_LARGE',
] as const
export type ErrorCode = (typeof ErrorCodes)[number]

/** The one error shape every non-2xx response has. */
export interface ErrorBody {
  error: { code: ErrorCode | string; message: string; details?: unknown }
}

export type KeyProtocol = 'ecdsa' | 'schnorr'
export type KeyStatus = 'pending' | 'active' | 'failed'

/** `POST /api/v1/keys` body. */
export interface CreateKeyRequest {
  protocol: KeyProtocol
}

/** One key as `GET /api/v1/keys` and `POST /api/v1/keys` return it. */
export interface KeyDto {
  id: string
  protocol: KeyProtocol
  status: KeyStatus
  /** Hex, 33-byte compressed master public key (the xpub's key); null until active. */
  publicKey: string | null
  /** Hex, 32-byte BIP32 chain code; null until active. */
  chainCode: string | null
  /** Schnorr only: hex x-only BIP86 output key of the master key. */
  outputKey?: string | null
  /** Node ids that reported the public key so far. */
  reportedBy: number[]
  createdAt: string
  error?: string | null
}

export interface KeyListDto {
  keys: KeyDto[]
}

export interface NodeStatusDto {
  nodeId: number
  /** Heartbeat lease alive in etcd. */
  up: boolean
  apiUrl: string | null
  quicAddr: string | null
  lastSeen: string | null
  banned: boolean
}

/** `GET /api/v1/cluster/status`. */
export interface ClusterStatusDto {
  /** The node that answered. */
  nodeId: number
  clusterSize: number
  threshold: number
  leader: number | null
  /** Fencing token of the current leadership term (etcd revision of the election key). */
  leaderTerm: string | null
  nodes: NodeStatusDto[]
  nodesUp: number
  etcd: { endpoints: string[]; members: { id: string; name: string; clientUrls: string[] }[]; healthy: boolean }
  database: { healthy: boolean }
  bannedNodes: number[]
}

/** terminus-style `GET /health`, `/health/live`, `/health/ready`. */
export interface HealthDto {
  status: 'ok' | 'error' | 'shutting_down'
  info?: Record<string, { status: string; [k: string]: unknown }>
  error?: Record<string, { status: string; [k: string]: unknown }>
  details?: Record<string, { status: string; [k: string]: unknown }>
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
  listKeys(): Promise<KeyListDto> {
    return this.request('GET', '/api/v1/keys')
  }
  createKey(body: CreateKeyRequest, timeoutMs?: number): Promise<KeyDto> {
    return this.request('POST', '/api/v1/keys', body, { timeoutMs })
  }
  metrics(): Promise<string> {
    return this.request('GET', '/metrics', undefined, { text: true })
  }

  /** Low-level request; throws {@link ApiError} with the server's code on failure. */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    o: { timeoutMs?: number; text?: boolean; acceptErrorBody?: boolean } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { accept: o.text ? 'text/plain' : 'application/json' }
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
    const err = (json as ErrorBody | undefined)?.error
    throw new ApiError(res.status, err?.code ?? 'HTTP_' + res.status, err?.message ?? `HTTP ${res.status}`, err?.details)
  }
}
