import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ApiClient, ApiError } from '@tw/api'
import { CLUSTER_SIZE, DevnetPaths, DevnetState, NodeState, THRESHOLD, urls } from './state'
import { ProcessMarker } from './processes'
import { byzantineEnv } from './byzantine'

/**
 * The node service's entry point: $TW_NODE_ENTRY, else `apps/node/dist/main.js` of this
 * checkout (this file is apps/cli/dist/shared/devnet/nodes.js).
 */
export function nodeEntry(env: NodeJS.ProcessEnv = process.env): string {
  return env.TW_NODE_ENTRY ? resolve(env.TW_NODE_ENTRY) : resolve(__dirname, '..', '..', '..', '..', 'node', 'dist', 'main.js')
}

export function nodeEntryExists(env: NodeJS.ProcessEnv = process.env): boolean {
  return existsSync(nodeEntry(env))
}

/** The repository root the node runs in (three levels above apps/node/dist). */
export function nodeCwd(entry: string): string {
  return resolve(dirname(entry), '..', '..', '..')
}

/** A node process is ours if its keystore directory is the one we gave it. */
export function nodeMarker(paths: DevnetPaths, id: number): ProcessMarker {
  return { env: ['TW_KEYSTORE_DIR', paths.keystore(id)] }
}

export interface NodeEnvInput {
  paths: DevnetPaths
  state: DevnetState
  node: NodeState
  databaseUrl: string
  /** Esplora base URL of the devnet's chain (the embedded regtest chain or an outside one). */
  chainUrl: string
  /** The chain's network (TW_NETWORK); default regtest. */
  network?: 'regtest' | 'signet' | 'testnet4'
  passphrase: string
  logLevel: string
  /** SHA-256 (hex) of the devnet's admin API token (the token stays in the devnet's secrets). */
  adminTokenSha256?: string
}

/**
 * The environment of node `node.id` — the node service's whole configuration. With a drill in
 * `state.byzantine`, every node gets TW_BYZANTINE_DRILL=true and the named nodes TW_BYZANTINE.
 */
export function nodeEnv(i: NodeEnvInput): Record<string, string> {
  const { paths, state, node } = i
  return {
    TW_NODE_ID: String(node.id),
    TW_CLUSTER_SIZE: String(CLUSTER_SIZE),
    TW_THRESHOLD: String(THRESHOLD),
    TW_API_HOST: '127.0.0.1',
    TW_API_PORT: String(node.apiPort),
    TW_API_URL_ADVERTISED: urls.api(node),
    TW_QUIC_LISTEN: urls.quic(node),
    TW_QUIC_PEERS: state.nodes
      .filter((p) => p.id !== node.id)
      .map((p) => `${p.id}=${urls.quic(p)}`)
      .join(','),
    TW_CA_CERT: paths.caCert(),
    TW_NODE_CERT: paths.nodeCert(node.id),
    TW_NODE_KEY: paths.nodeKey(node.id),
    TW_KEYSTORE_DIR: paths.keystore(node.id),
    TW_KEYSTORE_PASSPHRASE: i.passphrase,
    TW_ETCD_ENDPOINTS: state.etcd.map(urls.etcdClient).join(','),
    // The node's own etcd client certificate: CN node-<id> is its etcd user (see etcd-acl.ts).
    TW_ETCD_CA: paths.etcdCaCert(),
    TW_ETCD_CERT: paths.etcdClientCert(`node-${node.id}`),
    TW_ETCD_KEY: paths.etcdClientKey(`node-${node.id}`),
    TW_DATABASE_URL: i.databaseUrl,
    TW_CHAIN_URL: i.chainUrl,
    TW_NETWORK: i.network ?? 'regtest',
    // The embedded chain relays from 0.1 sat/vB (Bitcoin Core 29.1+'s default): so may the devnet's sends.
    ...((i.network ?? 'regtest') === 'regtest' ? { TW_POLICY_MIN_FEE_RATE: '0.1' } : {}),
    TW_ENV: 'development',
    // Devnet fast start: public test primes. INSECURE — devnet only.
    TW_INSECURE_TEST_PRIMES: 'true',
    TW_WEBHOOK_ALLOW_PRIVATE: 'true', // receivers on loopback
    TW_LOG_LEVEL: i.logLevel,
    ...(i.adminTokenSha256 ? { TW_BOOTSTRAP_ADMIN_TOKEN_SHA256: i.adminTokenSha256 } : {}),
    ...byzantineEnv(state.byzantine, node.id),
  }
}

/** Drill variables never inherited from the CLI's own environment: the devnet state alone decides. */
export const DRILL_ENV_VARS = ['TW_BYZANTINE', 'TW_BYZANTINE_DRILL'] as const

export type NodeHealth = 'ready' | 'not-ready' | 'unreachable' | 'stopped'

/** `GET /health/ready` of one node, reduced to a word plus the reason it is not ready. */
export async function nodeHealth(node: NodeState, timeoutMs = 3000): Promise<{ health: NodeHealth; reason?: string }> {
  const client = new ApiClient({ baseUrl: urls.api(node), timeoutMs })
  try {
    const h = await client.health('ready')
    if (h.status === 'ok') return { health: 'ready' }
    const failing = Object.entries(h.error ?? {}).map(([k, v]) => `${k}: ${String(v.message ?? v.status)}`)
    return { health: 'not-ready', reason: failing.join('; ') || h.status }
  } catch (err) {
    if (err instanceof ApiError && (err.code === 'UNREACHABLE' || err.code === 'TIMEOUT')) {
      return { health: 'unreachable', reason: err.message }
    }
    return { health: 'not-ready', reason: (err as Error).message }
  }
}
