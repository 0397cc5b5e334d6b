import { parseAddress } from '@tw/bitcoin'
import { z } from 'zod'
import { join } from 'node:path'

/**
 * The node's configuration, read once from the environment by {@link loadConfig}.
 * Nothing else in the service reads `process.env`: everything it needs is here.
 */
export interface AppConfig {
  env: 'development' | 'production'
  nodeId: number
  clusterSize: number
  threshold: number
  logLevel: LogLevel
  /** `TW_LOG_FORMAT`: text lines for a terminal, or one JSON object per line for log pipelines. */
  logFormat: 'text' | 'json'
  api: { host: string; port: number; advertisedUrl: string }
  quic: { listen: string; peers: Record<string, string> }
  tls: { caCertPath: string; nodeCertPath: string; nodeKeyPath: string }
  keystore: { dir: string; passphrase?: string; keyFile?: string }
  /** Where audit entries are spooled (fsynced, in order) before PostgreSQL has them; default `<keystore dir>/audit-spool`. */
  audit: { spoolDir: string }
  /**
   * etcd client URLs and session lease TTL; `tls`: the etcd CA and this node's etcd client
   * certificate (CN `node-<id>`, its etcd user) and key, or null for plain http (refused when
   * TW_ENV=production).
   */
  etcd: { endpoints: string[]; leaseTtlSeconds: number; tls: EtcdTlsConfig | null }
  database: { url: string }
  /** Use the shipped, public test primes for aux info. INSECURE: tests and devnet only. */
  insecureTestPrimes: boolean
  /** Safe-prime sets this node keeps ready for aux info (generated in the background). */
  primePoolTarget: number
  /** How long `POST /api/v1/keys` waits for the DKG before answering 202. */
  dkgTimeoutMs: number
  /** Deadline of one interactive engine session. */
  sessionTimeoutMs: number
  /** How often the certificate files are checked for a renewal. */
  certReloadIntervalS: number
  /**
   * How long a finished transaction stays in etcd after its last change (then only in each
   * node's PostgreSQL mirror); Idempotency-Key records stay 7 times as long.
   */
  txRetentionS: number
  /**
   * BIP44's gap limit on receive addresses: a new one is refused (GAP_LIMIT_REACHED) while the
   * last this many handed out have received nothing, so a wallet restored from the descriptors
   * with this gap finds every coin. 0: no limit.
   */
  addressGapLimit: number
  /** The event log and webhooks (events/): how often the leader looks for deposits, and how webhook deliveries retry. */
  events: {
    depositScanMs: number
    webhookRetryBaseMs: number
    webhookMaxAttempts: number
    webhookTimeoutMs: number
    /** TW_WEBHOOK_ALLOW_PRIVATE: webhooks may go to loopback, private and link-local addresses (default false). */
    webhookAllowPrivate: boolean
  }
  /**
   * The Bitcoin network and the Esplora-compatible chain API the wallet speaks to: its base URL,
   * an optional header sent with every request (a paid Esplora's API key; never logged), and how
   * many requests may be in flight at once (a public Esplora rate-limits).
   */
  chain: {
    network: BitcoinNetwork
    url: string | null
    confirmations: number
    authHeader: { name: string; value: string } | null
    maxConcurrency: number
  }
  /** Spending policy every node checks before voting (DESIGN §5). */
  policy: SpendPolicy
  /** Presignature pool: refill in the background for the preferred signer set. */
  presignatures: { autofill: boolean; lookahead: number }
  /** Share refresh policy every node votes by: TW_REFRESH_MIN_INTERVAL_S between approved refreshes of a key. */
  refresh: { minIntervalS: number }
  /** Bans: proven violations before a ban; distinct accusers (not the offender) a proof needs. */
  byzantine: { banThreshold: number; minAccusers: number; /** TW_LEADER_STALL_S: a leader that stalls a send this long while alive loses the lead. */ leaderStallS: number }
  /**
   * Byzantine drill (never in production): behaviours this node starts with, and whether
   * `POST /api/v1/drill` may change them at run time.
   */
  drill: { enabled: boolean; behaviours: DrillBehaviour[] }
  /**
   * API access control: the SHA-256 (hex) of the bootstrap admin token (the token itself is
   * never given to the node), whether `/health`, `/health/ready` and `/metrics` need a token,
   * requests per minute per token, and the largest request body.
   */
  auth: { bootstrapAdminTokenSha256: string | null; metricsTokenRequired: boolean; rateLimitPerMin: number; maxBodyBytes: number }
}

/** Paths of the etcd client TLS files (TW_ETCD_CA, TW_ETCD_CERT, TW_ETCD_KEY). */
export interface EtcdTlsConfig {
  caPath: string
  certPath: string
  keyPath: string
}

export const DRILL_BEHAVIOURS = ['corrupt-share', 'equivocate-vote', 'replay', 'wrong-session', 'drop', 'delay', 'approve-everything', 'etcd-tamper'] as const
export type DrillBehaviour = (typeof DRILL_BEHAVIOURS)[number]

export type BitcoinNetwork = 'mainnet' | 'testnet' | 'testnet4' | 'signet' | 'regtest'

export interface SpendPolicy {
  /** Largest amount one transaction may send (sats). */
  maxAmountSats: number
  /** Largest total sent in 24 h (sats). */
  dailyLimitSats: number
  /** Largest absolute fee (sats). */
  maxFeeSats: number
  /** Fee-rate bounds (sat/vB). */
  minFeeRate: number
  maxFeeRate: number
  /** Destination allow list (empty = any) and deny list. */
  allow: string[]
  deny: string[]
}

export type LogLevel = 'error' | 'warn' | 'log' | 'debug' | 'verbose'

/** Raised by {@link loadConfig}; `problems` names every bad or missing variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v)
const str = () => z.preprocess(blankToUndefined, z.string({ error: 'is required' }))
const optStr = () => z.preprocess(blankToUndefined, z.string().optional())
/** A decimal number in [min, max] (fee rates in sat/vB). */
const decimal = (min: number, max: number) =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: 'must be a number' })
      .refine((n) => Number.isFinite(n), { error: 'must be a number' })
      .refine((n) => n >= min, { error: `must be >= ${min}` })
      .refine((n) => n <= max, { error: `must be <= ${max}` }),
  )

const int = (min: number, max: number) =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: 'must be an integer' })
      .int({ error: 'must be an integer' })
      .min(min, { error: `must be >= ${min}` })
      .max(max, { error: `must be <= ${max}` }),
  )
const bool = (dflt: boolean) =>
  z.preprocess(
    (v) => blankToUndefined(v) ?? String(dflt),
    z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' }).transform((v) => v === 'true' || v === '1'),
  )
const hostPort = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, { error: 'must be host:port' })
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })

const peersSchema = z.string().transform((raw, ctx) => {
  const peers: Record<string, string> = {}
  for (const part of raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(\d+)=(.+)$/.exec(part)
    if (!m || !hostPort.safeParse(m[2]).success) {
      ctx.addIssue({ code: 'custom', message: `"${part}" is not <id>=<host:port>` })
      return z.NEVER
    }
    if (peers[m[1]] !== undefined) {
      ctx.addIssue({ code: 'custom', message: `peer ${m[1]} given twice` })
      return z.NEVER
    }
    peers[m[1]] = m[2]
  }
  return peers
})

const endpointsSchema = z
  .string()
  .transform((raw) =>
    raw
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean),
  )
  .pipe(z.array(httpUrl).min(1, { error: 'needs at least one endpoint' }))

/** The variables, as the environment spells them. */
const envSchema = z.object({
  TW_NODE_ID: int(1, 255),
  TW_CLUSTER_SIZE: z.preprocess((v) => blankToUndefined(v) ?? '5', int(2, 255)),
  TW_THRESHOLD: z.preprocess((v) => blankToUndefined(v) ?? '4', int(1, 255)),
  TW_API_HOST: z.preprocess((v) => blankToUndefined(v) ?? '127.0.0.1', z.string().min(1)),
  TW_API_PORT: int(1, 65535),
  TW_API_URL_ADVERTISED: z.preprocess(blankToUndefined, httpUrl.optional()),
  TW_QUIC_LISTEN: z.preprocess(blankToUndefined, hostPort.optional()).pipe(z.string({ error: 'is required' })),
  TW_QUIC_PEERS: str().pipe(peersSchema),
  TW_CA_CERT: str(),
  TW_NODE_CERT: str(),
  TW_NODE_KEY: str(),
  TW_KEYSTORE_DIR: str(),
  TW_KEYSTORE_PASSPHRASE: optStr(),
  TW_KEYSTORE_KEY_FILE: optStr(),
  TW_AUDIT_SPOOL_DIR: optStr(),
  TW_ETCD_ENDPOINTS: str().pipe(endpointsSchema),
  TW_ETCD_LEASE_TTL_S: z.preprocess((v) => blankToUndefined(v) ?? '5', int(2, 60)),
  TW_ETCD_CA: optStr(),
  TW_ETCD_CERT: optStr(),
  TW_ETCD_KEY: optStr(),
  TW_DATABASE_URL: z.preprocess(blankToUndefined, z.string({ error: 'is required' }).regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// URL' })),
  TW_ENV: z.preprocess((v) => blankToUndefined(v) ?? 'development', z.enum(['development', 'production'], { error: 'must be development or production' })),
  TW_INSECURE_TEST_PRIMES: bool(false),
  TW_PRIME_POOL_TARGET: z.preprocess((v) => blankToUndefined(v) ?? '1', int(1, 16)),
  TW_LOG_FORMAT: z.preprocess((v) => blankToUndefined(v) ?? 'text', z.enum(['text', 'json'], { error: 'must be text|json' })),
  TW_LOG_LEVEL: z.preprocess((v) => blankToUndefined(v) ?? 'log', z.enum(['error', 'warn', 'log', 'debug', 'verbose'], { error: 'must be error|warn|log|debug|verbose' })),
  TW_DKG_TIMEOUT_MS: z.preprocess((v) => blankToUndefined(v) ?? '120000', int(1000, 3_600_000)),
  TW_SESSION_TIMEOUT_MS: z.preprocess((v) => blankToUndefined(v) ?? '60000', int(1000, 3_600_000)),
  TW_CERT_RELOAD_INTERVAL_S: z.preprocess((v) => blankToUndefined(v) ?? '10', int(1, 3600)),
  TW_TX_RETENTION_S: z.preprocess((v) => blankToUndefined(v) ?? '86400', int(60, 31_536_000)),
  TW_ADDRESS_GAP_LIMIT: z.preprocess((v) => blankToUndefined(v) ?? '20', int(0, 10_000)),
  TW_DEPOSIT_SCAN_S: z.preprocess((v) => blankToUndefined(v) ?? '15', int(1, 3600)),
  TW_WEBHOOK_RETRY_BASE_MS: z.preprocess((v) => blankToUndefined(v) ?? '5000', int(100, 3_600_000)),
  TW_WEBHOOK_MAX_ATTEMPTS: z.preprocess((v) => blankToUndefined(v) ?? '10', int(1, 30)),
  TW_WEBHOOK_TIMEOUT_MS: z.preprocess((v) => blankToUndefined(v) ?? '10000', int(100, 60_000)),
  TW_WEBHOOK_ALLOW_PRIVATE: bool(false),
  TW_NETWORK: z.preprocess(
    (v) => blankToUndefined(v) ?? 'regtest',
    z.enum(['mainnet', 'testnet', 'testnet4', 'signet', 'regtest'], { error: 'must be mainnet|testnet|testnet4|signet|regtest' }),
  ),
  TW_CHAIN_URL: z.preprocess(blankToUndefined, httpUrl.optional()),
  TW_CHAIN_AUTH_HEADER: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9-]+:\s*\S.*$/, { error: 'must be "Header-Name: value" (e.g. "Authorization: Bearer <key>")' })
      .transform((raw) => ({ name: raw.slice(0, raw.indexOf(':')).trim(), value: raw.slice(raw.indexOf(':') + 1).trim() }))
      .optional(),
  ),
  TW_CHAIN_MAX_CONCURRENCY: z.preprocess((v) => blankToUndefined(v) ?? '4', int(1, 64)),
  TW_CONFIRMATIONS: z.preprocess((v) => blankToUndefined(v) ?? '1', int(1, 100)),
  TW_POLICY_MAX_AMOUNT_SATS: z.preprocess((v) => blankToUndefined(v) ?? '1000000000', int(1, 2_100_000_000_000_000)),
  TW_POLICY_DAILY_LIMIT_SATS: z.preprocess((v) => blankToUndefined(v) ?? '10000000000', int(1, 2_100_000_000_000_000)),
  TW_POLICY_MAX_FEE_SATS: z.preprocess((v) => blankToUndefined(v) ?? '1000000', int(1, 100_000_000)),
  // Bitcoin Core relays from 0.1 sat/vB since 29.1 (older nodes: 1 sat/vB, the default here).
  TW_POLICY_MIN_FEE_RATE: z.preprocess((v) => blankToUndefined(v) ?? '1', decimal(0.1, 10_000)),
  TW_POLICY_MAX_FEE_RATE: z.preprocess((v) => blankToUndefined(v) ?? '1000', int(1, 100_000)),
  TW_POLICY_ALLOW: optStr(),
  TW_POLICY_DENY: optStr(),
  TW_PRESIG_AUTOFILL: bool(true),
  TW_PRESIG_LOOKAHEAD: z.preprocess((v) => blankToUndefined(v) ?? '1', int(0, 100)),
  TW_BAN_THRESHOLD: z.preprocess((v) => blankToUndefined(v) ?? '1', int(1, 1000)),
  TW_BAN_MIN_ACCUSERS: z.preprocess((v) => blankToUndefined(v) ?? '3', int(2, 254)),
  TW_LEADER_STALL_S: z.preprocess((v) => blankToUndefined(v) ?? '30', int(5, 3600)),
  TW_REFRESH_MIN_INTERVAL_S: z.preprocess((v) => blankToUndefined(v) ?? '600', int(0, 30 * 86_400)),
  TW_BYZANTINE_DRILL: bool(false),
  TW_BYZANTINE: z.preprocess(
    (v) => blankToUndefined(v) ?? '',
    z.string().transform((raw, ctx) => {
      const list = raw
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
      for (const b of list) {
        if (!(DRILL_BEHAVIOURS as readonly string[]).includes(b)) {
          ctx.addIssue({ code: 'custom', message: `"${b}" is not a drill behaviour (${DRILL_BEHAVIOURS.join(', ')})` })
          return z.NEVER
        }
      }
      return [...new Set(list)] as DrillBehaviour[]
    }),
  ),
  TW_BOOTSTRAP_ADMIN_TOKEN_SHA256: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, { error: 'must be 64 hex characters (sha256 of the token)' })
      .transform((v) => v.toLowerCase())
      .optional(),
  ),
  TW_METRICS_TOKEN_REQUIRED: bool(false),
  TW_RATE_LIMIT_PER_MIN: z.preprocess((v) => blankToUndefined(v) ?? '600', int(1, 1_000_000)),
  TW_MAX_BODY_BYTES: z.preprocess((v) => blankToUndefined(v) ?? '65536', int(1024, 16 * 1024 * 1024)),
})

/** Every variable the node reads, for documentation and redaction. */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape)
const SECRET_VARIABLES = new Set(['TW_KEYSTORE_PASSPHRASE', 'TW_DATABASE_URL', 'TW_CHAIN_AUTH_HEADER'])

/**
 * Reads and validates the environment once. Throws {@link ConfigError} naming every bad or
 * missing variable (not only the first).
 *
 * @example
 * const config = loadConfig(process.env) // only main.ts passes process.env
 */
export function loadConfig(env: Env): AppConfig {
  const problems: string[] = []
  const parsed = envSchema.safeParse(env)
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '?')
      const message = issue.code === 'invalid_type' && env[name] === undefined ? 'is required' : issue.message
      problems.push(`${name} ${message}`)
    }
  }
  // Cross-field rules are checked on the raw values too, so one run reports everything.
  const passphrase = blankToUndefined(env.TW_KEYSTORE_PASSPHRASE)
  const keyFile = blankToUndefined(env.TW_KEYSTORE_KEY_FILE)
  if ((passphrase === undefined) === (keyFile === undefined)) {
    problems.push('TW_KEYSTORE_PASSPHRASE / TW_KEYSTORE_KEY_FILE: give exactly one of them')
  }
  const etcdTls = checkEtcdTls(env, problems)
  if (!parsed.success) throw new ConfigError(dedupe(problems))
  const v = parsed.data
  if (etcdTls !== undefined) {
    const plain = v.TW_ETCD_ENDPOINTS.filter((e) => !e.startsWith('https://'))
    const secure = v.TW_ETCD_ENDPOINTS.filter((e) => e.startsWith('https://'))
    if (etcdTls && plain.length) {
      problems.push(`TW_ETCD_ENDPOINTS must all be https:// when TW_ETCD_CA/TW_ETCD_CERT/TW_ETCD_KEY are set (got ${plain.join(', ')})`)
    }
    if (!etcdTls && secure.length) {
      problems.push(`TW_ETCD_ENDPOINTS: https:// endpoints need the etcd client certificate: set TW_ETCD_CA, TW_ETCD_CERT and TW_ETCD_KEY (got ${secure.join(', ')})`)
    }
    if (!etcdTls && v.TW_ENV === 'production') {
      problems.push(
        'TW_ETCD_CA, TW_ETCD_CERT and TW_ETCD_KEY are required when TW_ENV=production: plain-http etcd without a client certificate is refused (any process that reaches etcd could write any key)',
      )
    }
  }
  if (v.TW_THRESHOLD > v.TW_CLUSTER_SIZE) problems.push(`TW_THRESHOLD must be <= TW_CLUSTER_SIZE (${v.TW_CLUSTER_SIZE})`)
  if (v.TW_NODE_ID > v.TW_CLUSTER_SIZE) problems.push(`TW_NODE_ID must be <= TW_CLUSTER_SIZE (${v.TW_CLUSTER_SIZE})`)
  const expected = Array.from({ length: v.TW_CLUSTER_SIZE }, (_, i) => String(i + 1)).filter((id) => id !== String(v.TW_NODE_ID))
  const given = Object.keys(v.TW_QUIC_PEERS).sort((a, b) => Number(a) - Number(b))
  if (given.join(',') !== expected.join(',')) {
    problems.push(`TW_QUIC_PEERS must name exactly the other nodes ${expected.join(',')} (got ${given.join(',') || 'none'})`)
  }
  if (v.TW_POLICY_MIN_FEE_RATE > v.TW_POLICY_MAX_FEE_RATE) problems.push('TW_POLICY_MIN_FEE_RATE must be <= TW_POLICY_MAX_FEE_RATE')
  if (v.TW_ENV === 'production' && v.TW_NETWORK === 'regtest') problems.push('TW_NETWORK=regtest is refused when TW_ENV=production')
  if (v.TW_ENV === 'production' && (v.TW_BYZANTINE.length > 0 || v.TW_BYZANTINE_DRILL)) {
    problems.push('TW_BYZANTINE / TW_BYZANTINE_DRILL (Byzantine drill mode) are refused when TW_ENV=production')
  }
  if (v.TW_BAN_MIN_ACCUSERS > v.TW_CLUSTER_SIZE - 1) problems.push(`TW_BAN_MIN_ACCUSERS must be <= TW_CLUSTER_SIZE - 1 (${v.TW_CLUSTER_SIZE - 1})`)
  if (v.TW_INSECURE_TEST_PRIMES && v.TW_ENV === 'production') {
    problems.push('TW_INSECURE_TEST_PRIMES=true is refused when TW_ENV=production (the test primes are public)')
  }
  for (const name of ['TW_POLICY_ALLOW', 'TW_POLICY_DENY'] as const) {
    for (const address of splitList(v[name])) {
      try {
        parseAddress(address, v.TW_NETWORK)
      } catch (err) {
        problems.push(`${name}: ${address} is not a ${v.TW_NETWORK} address (${(err as Error).message})`)
      }
    }
  }
  if (problems.length) throw new ConfigError(dedupe(problems))

  return {
    env: v.TW_ENV,
    nodeId: v.TW_NODE_ID,
    clusterSize: v.TW_CLUSTER_SIZE,
    threshold: v.TW_THRESHOLD,
    logLevel: v.TW_LOG_LEVEL,
    logFormat: v.TW_LOG_FORMAT,
    api: {
      host: v.TW_API_HOST,
      port: v.TW_API_PORT,
      advertisedUrl: (v.TW_API_URL_ADVERTISED ?? `http://${v.TW_API_HOST}:${v.TW_API_PORT}`).replace(/\/+$/, ''),
    },
    quic: { listen: v.TW_QUIC_LISTEN, peers: v.TW_QUIC_PEERS },
    tls: { caCertPath: v.TW_CA_CERT, nodeCertPath: v.TW_NODE_CERT, nodeKeyPath: v.TW_NODE_KEY },
    keystore: { dir: v.TW_KEYSTORE_DIR, passphrase: v.TW_KEYSTORE_PASSPHRASE, keyFile: v.TW_KEYSTORE_KEY_FILE },
    audit: { spoolDir: v.TW_AUDIT_SPOOL_DIR ?? join(v.TW_KEYSTORE_DIR, 'audit-spool') },
    etcd: { endpoints: v.TW_ETCD_ENDPOINTS, leaseTtlSeconds: v.TW_ETCD_LEASE_TTL_S, tls: etcdTls ?? null },
    database: { url: v.TW_DATABASE_URL },
    insecureTestPrimes: v.TW_INSECURE_TEST_PRIMES,
    primePoolTarget: v.TW_PRIME_POOL_TARGET,
    dkgTimeoutMs: v.TW_DKG_TIMEOUT_MS,
    sessionTimeoutMs: v.TW_SESSION_TIMEOUT_MS,
    certReloadIntervalS: v.TW_CERT_RELOAD_INTERVAL_S,
    txRetentionS: v.TW_TX_RETENTION_S,
    addressGapLimit: v.TW_ADDRESS_GAP_LIMIT,
    events: {
      depositScanMs: v.TW_DEPOSIT_SCAN_S * 1000,
      webhookRetryBaseMs: v.TW_WEBHOOK_RETRY_BASE_MS,
      webhookMaxAttempts: v.TW_WEBHOOK_MAX_ATTEMPTS,
      webhookTimeoutMs: v.TW_WEBHOOK_TIMEOUT_MS,
      webhookAllowPrivate: v.TW_WEBHOOK_ALLOW_PRIVATE,
    },
    chain: {
      network: v.TW_NETWORK,
      url: v.TW_CHAIN_URL?.replace(/\/+$/, '') ?? null,
      confirmations: v.TW_CONFIRMATIONS,
      authHeader: v.TW_CHAIN_AUTH_HEADER ?? null,
      maxConcurrency: v.TW_CHAIN_MAX_CONCURRENCY,
    },
    policy: {
      maxAmountSats: v.TW_POLICY_MAX_AMOUNT_SATS,
      dailyLimitSats: v.TW_POLICY_DAILY_LIMIT_SATS,
      maxFeeSats: v.TW_POLICY_MAX_FEE_SATS,
      minFeeRate: v.TW_POLICY_MIN_FEE_RATE,
      maxFeeRate: v.TW_POLICY_MAX_FEE_RATE,
      allow: splitList(v.TW_POLICY_ALLOW),
      deny: splitList(v.TW_POLICY_DENY),
    },
    presignatures: { autofill: v.TW_PRESIG_AUTOFILL, lookahead: v.TW_PRESIG_LOOKAHEAD },
    refresh: { minIntervalS: v.TW_REFRESH_MIN_INTERVAL_S },
    byzantine: { banThreshold: v.TW_BAN_THRESHOLD, minAccusers: v.TW_BAN_MIN_ACCUSERS, leaderStallS: v.TW_LEADER_STALL_S },
    drill: { enabled: v.TW_BYZANTINE_DRILL || v.TW_BYZANTINE.length > 0, behaviours: v.TW_BYZANTINE },
    auth: {
      bootstrapAdminTokenSha256: v.TW_BOOTSTRAP_ADMIN_TOKEN_SHA256 ?? null,
      metricsTokenRequired: v.TW_METRICS_TOKEN_REQUIRED,
      rateLimitPerMin: v.TW_RATE_LIMIT_PER_MIN,
      maxBodyBytes: v.TW_MAX_BODY_BYTES,
    },
  }
}

const ETCD_TLS_VARIABLES = ['TW_ETCD_CA', 'TW_ETCD_CERT', 'TW_ETCD_KEY'] as const

/**
 * TW_ETCD_CA / TW_ETCD_CERT / TW_ETCD_KEY: all three or none. Returns the paths, null for none,
 * or undefined after recording a problem. Like TW_CA_CERT, the files are read at start
 * (EtcdRepository says which one it cannot read), not here.
 */
function checkEtcdTls(env: Env, problems: string[]): EtcdTlsConfig | null | undefined {
  const given = ETCD_TLS_VARIABLES.map((name) => [name, blankToUndefined(env[name])] as const)
  const set = given.filter(([, v]) => typeof v === 'string') as [string, string][]
  if (set.length === 0) return null
  if (set.length < given.length) {
    const missing = given.filter(([, v]) => typeof v !== 'string').map(([n]) => n)
    problems.push(`TW_ETCD_CA / TW_ETCD_CERT / TW_ETCD_KEY: give all three or none (missing ${missing.join(', ')})`)
    return undefined
  }
  const [ca, cert, key] = set.map(([, v]) => v)
  return { caPath: ca, certPath: cert, keyPath: key }
}

function splitList(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

/** Only the database URL, for the TypeORM CLI's DataSource (`persistence/data-source.ts`). */
export function loadDatabaseConfig(env: Env): AppConfig['database'] {
  const url = blankToUndefined(env.TW_DATABASE_URL)
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError(['TW_DATABASE_URL is required and must be a postgres:// URL'])
  }
  return { url }
}

/** The configuration with secrets replaced, fit for logs and the audit log. */
export function redactConfig(config: AppConfig): Record<string, unknown> {
  return {
    ...config,
    keystore: {
      dir: config.keystore.dir,
      passphrase: config.keystore.passphrase === undefined ? undefined : '<redacted>',
      keyFile: config.keystore.keyFile,
    },
    database: { url: redactUrl(config.database.url) },
    chain: {
      ...config.chain,
      url: config.chain.url === null ? null : redactUrl(config.chain.url),
      authHeader: config.chain.authHeader === null ? null : { name: config.chain.authHeader.name, value: '<redacted>' },
    },
    secretVariables: [...SECRET_VARIABLES],
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '<redacted>'
    return u.toString()
  } catch {
    return '<redacted>'
  }
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)]
}
