/** DTOs and error codes of the REST contract (`/api/v1`, `/health`, `/metrics`). */

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
  /**
   * The node reports safe primes ready for an aux info session (`/tw/primes/<id>`); the leader
   * starts aux info only when every node is up and ready. Optional for older nodes.
   */
  primesReady?: boolean
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


/** `GET /api/v1/audit/verify`: the audit log's hash chain recomputed. */
export interface AuditVerifyDto {
  ok: boolean
  /** Rows verified before the first broken one (all rows when ok). */
  checked: number
  /** id of the first row whose link or hash does not verify; null when ok. */
  firstBrokenId: string | null
  reason: string | null
}
