import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startEtcdCluster, freePort, type EtcdCluster } from './etcd'
import { createTestDatabase, type TestDatabase } from './postgres'
import type { Regtest } from '@tw/regtest'

const MAIN = path.join(__dirname, '..', 'main.js')

export interface TestNode {
  id: number
  apiUrl: string
  env: Record<string, string>
  logFile: string
  proc: ChildProcess | null
}

/**
 * Five (or `size`) real node processes (`dist/main.js`) on loopback, each with its own
 * keystore, sharing one etcd and one fresh PostgreSQL database; certificates from
 * `generateClusterCerts`; insecure test primes (tests only).
 */
export class NodeCluster {
  readonly nodes: TestNode[] = []
  /** The embedded regtest chain (in this process), when created with `{ chain: true }`. */
  chain: Regtest | null = null
  /**
   * An admin API token every node accepts (only its SHA-256 is in the nodes' environment, as
   * `TW_BOOTSTRAP_ADMIN_TOKEN_SHA256`): pass it to `ApiClient` as `token`.
   */
  readonly adminToken = `tw_${randomBytes(32).toString('base64url')}`

  private constructor(
    readonly dir: string,
    public etcd: EtcdCluster,
    readonly db: TestDatabase,
  ) {}

  /**
   * `opts.etcd`: etcd members (default 1); every node gets every member's endpoint, so one
   * member may be stopped (the chaos suite runs three).
   */
  static async create(size = 5, extraEnv: Record<string, string> = {}, opts: { chain?: boolean; etcd?: number } = {}): Promise<NodeCluster> {
    const dir = mkdtempSync(path.join(tmpdir(), 'tw-cluster-'))
    const certs = path.join(dir, 'certs')
    mkdirSync(certs)
    const native = await import('@tw/native')
    native.generateClusterCerts(certs, size)
    const etcd = await startEtcdCluster(opts.etcd ?? 1)
    const db = await createTestDatabase('tw_cluster')
    const cluster = new NodeCluster(dir, etcd, db)
    if (opts.chain) {
      const { startRegtest } = await import('@tw/regtest')
      cluster.chain = await startRegtest({ port: 0, dataDir: path.join(dir, 'regtest') })
    }
    const api: number[] = []
    const quic: number[] = []
    for (let i = 0; i < size; i++) {
      api.push(await freePort())
      quic.push(await freePort())
    }
    for (let id = 1; id <= size; id++) {
      const keyFile = path.join(dir, `node-${id}.keystore-key`)
      writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 })
      const peers = Array.from({ length: size }, (_, i) => i + 1)
        .filter((p) => p !== id)
        .map((p) => `${p}=127.0.0.1:${quic[p - 1]}`)
        .join(',')
      const env: Record<string, string> = {
        TW_NODE_ID: String(id),
        TW_CLUSTER_SIZE: String(size),
        TW_THRESHOLD: String(size - 1),
        TW_API_HOST: '127.0.0.1',
        TW_API_PORT: String(api[id - 1]),
        TW_QUIC_LISTEN: `127.0.0.1:${quic[id - 1]}`,
        TW_QUIC_PEERS: peers,
        TW_CA_CERT: path.join(certs, 'ca.crt'),
        TW_NODE_CERT: path.join(certs, `node-${id}.crt`),
        TW_NODE_KEY: path.join(certs, `node-${id}.key`),
        TW_KEYSTORE_DIR: path.join(dir, `keystore-${id}`),
        TW_KEYSTORE_KEY_FILE: keyFile,
        TW_ETCD_ENDPOINTS: etcd.endpoints.join(','),
        TW_ETCD_LEASE_TTL_S: '3',
        TW_DATABASE_URL: db.url,
        TW_ENV: 'development',
        TW_INSECURE_TEST_PRIMES: 'true',
        TW_WEBHOOK_ALLOW_PRIVATE: 'true', // receivers on loopback
        TW_LOG_LEVEL: 'log',
        // Tests decide when presignatures are made (POST /api/v1/presignatures).
        TW_PRESIG_AUTOFILL: 'false',
        TW_BOOTSTRAP_ADMIN_TOKEN_SHA256: createHash('sha256').update(cluster.adminToken).digest('hex'),
        // Tests poll often from one token; the rate limit itself is tested in auth/auth.spec.
        TW_RATE_LIMIT_PER_MIN: '1000000',
        ...(cluster.chain ? { TW_CHAIN_URL: cluster.chain.url, TW_NETWORK: 'regtest' } : {}),
        ...extraEnv,
      }
      cluster.nodes.push({ id, apiUrl: `http://127.0.0.1:${api[id - 1]}`, env, logFile: path.join(dir, `node-${id}.log`), proc: null })
    }
    return cluster
  }

  node(id: number): TestNode {
    const n = this.nodes.find((x) => x.id === id)
    if (!n) throw new Error(`no node ${id}`)
    return n
  }

  start(id: number): void {
    const node = this.node(id)
    const out = createWriteStream(node.logFile, { flags: 'a' })
    // Only the TW_ variables and what Node needs: the node reads nothing else.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', ...node.env }
    const proc = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout?.pipe(out)
    proc.stderr?.pipe(out)
    proc.on('exit', () => {
      if (node.proc === proc) node.proc = null
    })
    node.proc = proc
  }

  /** SIGTERM and wait for the exit (SIGKILL after `ms`). Resolves to the exit code. */
  stop(id: number, ms = 10_000): Promise<number | null> {
    const node = this.node(id)
    const proc = node.proc
    if (!proc || proc.exitCode !== null) return Promise.resolve(proc?.exitCode ?? null)
    return new Promise((resolve) => {
      const kill = setTimeout(() => proc.kill('SIGKILL'), ms)
      proc.once('exit', (code) => {
        clearTimeout(kill)
        resolve(code)
      })
      proc.kill('SIGTERM')
    })
  }

  /**
   * etcd loses everything: stops every member, deletes their data and starts a new, empty etcd
   * cluster of the same size (revisions start over) that the nodes are pointed at on their next
   * start. Stop the nodes first.
   */
  async replaceEtcd(): Promise<void> {
    if (this.nodes.some((n) => n.proc)) throw new Error('replaceEtcd: stop every node first')
    const size = this.etcd.members.length
    await this.etcd.stop()
    this.etcd = await startEtcdCluster(size)
    for (const n of this.nodes) n.env.TW_ETCD_ENDPOINTS = this.etcd.endpoints.join(',')
  }

  log(id: number): string {
    try {
      return readFileSync(this.node(id).logFile, 'utf8')
    } catch {
      return ''
    }
  }

  /** The last `lines` lines of every node's log, for failure reports. */
  logTails(lines = 30): string {
    return this.nodes.map((n) => `--- node ${n.id} ---\n${this.log(n.id).split('\n').slice(-lines).join('\n')}`).join('\n')
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stop(n.id, 5000)))
    await this.chain?.close()
    await this.etcd.stop()
    await this.db.drop().catch(() => undefined)
    // TW_KEEP_TEST_DIR=1 keeps the nodes' logs and keystores for a post-mortem.
    if (process.env.TW_KEEP_TEST_DIR === '1') process.stderr.write(`kept ${this.dir}\n`)
    else rmSync(this.dir, { recursive: true, force: true })
  }
}
