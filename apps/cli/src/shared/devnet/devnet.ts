import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ApiClient, ApiError, KeyDto, KeyProtocol } from '@tw/api'
import { registerDevnetToken } from '../cli-config'
import { CliError } from '../errors'
import type { Reporter } from '../progress'
import { applyEtcdAcl, etcdBootstrapped, etcdHealthy, etcdMarker, findEtcd, startEtcd } from './etcd'
import { databaseReachable, DB_NAME_PATTERN, embeddedUrl, ensureDatabase, maskUrl, runningPostmaster, startEmbeddedPostgres, withDatabase } from './postgres'
import { DRILL_ENV_VARS, nodeCwd, nodeEntry, nodeEnv, nodeHealth, NodeHealth, nodeMarker } from './nodes'
import { ByzantineAssignment, byzantineBlockedWarning, byzantineWarning, planByzantine } from './byzantine'
import { describeChain, planChain, PUBLIC_ESPLORA } from './chain'
import { pickFreePorts, tcpPortFree, udpPortFree } from './ports'
import { isOurs, spawnDetached, stopGroup } from './processes'
import { chainTipHeight, regtestEntry, regtestMarker, startRegtest } from './regtest'
import { CLUSTER_SIZE, DevnetPaths, DevnetState, ETCD_MEMBERS, ExternalChainState, readStateSync, RegtestState, STATE_VERSION, urls, writeStateSync } from './state'

/** Printed (stderr) by every `devnet up`, and part of its JSON result. */
export const INSECURE_WARNING =
  'INSECURE DEVNET: nodes run with TW_INSECURE_TEST_PRIMES=true (public test primes shipped with the repo). ' +
  "Anyone can recompute these keys' Paillier secrets. Devnet only: never hold real funds."

export interface UpOptions {
  basePort: number
  /** True if --base-port was given (a different value than the state's is then worth a warning). */
  basePortExplicit: boolean
  dbName: string
  readyTimeoutMs: number
  keysTimeoutMs: number
  logLevel: string
  createKeys: boolean
  /** Block interval of the regtest chain in ms; undefined keeps the devnet's (0 for a new one). */
  blockIntervalMs?: number
  /**
   * Byzantine drill (`--byzantine`): replaces the devnet's drill, `[]` clears it
   * (`--no-byzantine`); undefined keeps what state.json has. Only applied while no node runs.
   */
  byzantine?: ByzantineAssignment[]
  /**
   * `--network`/`--chain-url`: an outside chain for the nodes (the embedded one is then not
   * started), `'embedded'` back to the embedded regtest chain, undefined keeps the devnet's.
   * Only applied while no node runs.
   */
  chain?: ExternalChainState | 'embedded'
  env?: NodeJS.ProcessEnv
}

export interface DevnetNodeStatus {
  id: number
  apiUrl: string
  quicAddr: string
  pid: number | null
  running: boolean
  health: NodeHealth
  reason?: string
  log: string
}

export interface DevnetEtcdStatus {
  name: string
  clientUrl: string
  peerUrl: string
  pid: number | null
  running: boolean
  healthy: boolean
}

export interface DevnetChainStatus {
  /** The nodes' TW_CHAIN_URL (Esplora API of the embedded regtest chain, or of the outside chain). */
  url: string
  network: 'regtest' | 'signet' | 'testnet4'
  /** An outside chain (`devnet up --chain-url`): not started or stopped by the devnet. */
  external: boolean
  pid: number | null
  running: boolean
  healthy: boolean
  tipHeight: number | null
  blockIntervalMs: number
  log: string
}

export interface DevnetStatusResult {
  dir: string
  insecureTestPrimes: true
  nodes: DevnetNodeStatus[]
  healthyNodes: number
  etcd: { endpoints: string[]; members: DevnetEtcdStatus[] }
  /** The embedded regtest chain; null for a devnet created before it had one and not brought up since. */
  chain: DevnetChainStatus | null
  /** Byzantine drill the nodes were started with (state.json); empty without a drill. */
  byzantine: ByzantineAssignment[]
  database: {
    mode: 'external' | 'embedded'
    /** The nodes' TW_DATABASE_URL, password masked. */
    url: string
    name: string
    pid: number | null
    running: boolean
    healthy: boolean
  }
}

export interface DevnetUpResult extends DevnetStatusResult {
  warning: string
  started: { etcd: string[]; postgres: boolean; regtest: boolean; nodes: number[] }
  createdDatabase: boolean
  keys: KeyDto[]
}

export interface DevnetDownResult {
  dir: string
  /** False if there was no devnet in `dir` (nothing to stop counts as success). */
  existed: boolean
  stopped: { name: string; pid: number; outcome: 'stopped' | 'killed' }[]
  /** Ports of the devnet still bound after stopping (by someone else). */
  busyPorts: number[]
}

const PROTOCOLS: KeyProtocol[] = ['ecdsa', 'schnorr']

/** The devnet in one directory: state, secrets, and the processes it starts and stops. */
export class Devnet {
  readonly paths: DevnetPaths
  constructor(dir: string, cwd: string = process.cwd()) {
    this.paths = new DevnetPaths(dir, cwd)
  }

  private readState(): DevnetState | undefined {
    try {
      return readStateSync(this.paths.root, '/')
    } catch (err) {
      throw new CliError('DEVNET_STATE_INVALID', `cannot read ${this.paths.state}: ${(err as Error).message}`)
    }
  }

  private requireState(): DevnetState {
    const s = this.readState()
    if (!s) throw new CliError('DEVNET_NOT_FOUND', `no devnet in ${this.paths.root}; start one with \`threshold-wallet devnet up\``)
    return s
  }

  private save(state: DevnetState): void {
    writeStateSync(this.paths, state)
  }

  /** The devnet's admin API token (`secrets/api-admin-token`, 0600), generated at the first `up`. */
  private adminToken(): string {
    return this.secret(this.adminTokenFile, () => `tw_${randomBytes(32).toString('base64url')}`)
  }

  private get adminTokenFile(): string {
    return join(this.paths.secrets, 'api-admin-token')
  }

  /** A secret file (0600 in a 0700 directory), generated once. */
  private secret(file: string, make: () => string): string {
    if (existsSync(file)) return readFileSync(file, 'utf8').trim()
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    chmodSync(this.paths.secrets, 0o700)
    const value = make()
    writeFileSync(file, value + '\n', { mode: 0o600, flag: 'wx' })
    return value
  }

  private async createState(o: UpOptions, env: NodeJS.ProcessEnv): Promise<DevnetState> {
    if (!DB_NAME_PATTERN.test(o.dbName)) {
      throw new CliError('BAD_DB_NAME', `--db-name "${o.dbName}" must match ${DB_NAME_PATTERN}`, 2)
    }
    const apiPorts = Array.from({ length: CLUSTER_SIZE }, (_, i) => o.basePort + i)
    if (apiPorts[apiPorts.length - 1] > 65535 || o.basePort < 1024) {
      throw new CliError('BAD_BASE_PORT', `--base-port must leave room for ${CLUSTER_SIZE} ports in 1024..65535`, 2)
    }
    for (const [i, p] of apiPorts.entries()) {
      if (!(await tcpPortFree(p))) {
        throw new CliError('DEVNET_PORT_IN_USE', `port ${p} (node ${i + 1} API) is in use; pass --base-port to use other ports`)
      }
    }
    const quic = await pickFreePorts(CLUSTER_SIZE, 'udp', apiPorts)
    // etcd client+peer per member, the embedded PostgreSQL, the regtest chain.
    const tcp = await pickFreePorts(ETCD_MEMBERS.length * 2 + 2, 'tcp', [...apiPorts, ...quic])
    const external = Boolean(env.DATABASE_URL)
    return {
      version: STATE_VERSION,
      createdAt: new Date().toISOString(),
      clusterToken: `tw-devnet-${randomBytes(6).toString('hex')}`,
      etcdTls: true,
      etcd: ETCD_MEMBERS.map((name, i) => ({ name, clientPort: tcp[2 * i], peerPort: tcp[2 * i + 1], pid: null })),
      database: { mode: external ? 'external' : 'embedded', name: o.dbName, port: external ? null : tcp[6], pid: null },
      regtest: { port: tcp[7], pid: null, blockIntervalMs: o.blockIntervalMs ?? 0 },
      nodes: apiPorts.map((apiPort, i) => ({ id: i + 1, apiPort, quicPort: quic[i], pid: null })),
    }
  }

  /** The server URL (no particular database) the devnet's database lives on. */
  private serverUrl(state: DevnetState, env: NodeJS.ProcessEnv): string {
    if (state.database.mode === 'embedded') {
      return embeddedUrl(
        state.database.port ?? 0,
        this.secret(this.paths.postgresPasswordFile, () => randomBytes(24).toString('hex')),
      )
    }
    if (env.DATABASE_URL) return env.DATABASE_URL
    if (existsSync(this.paths.databaseUrlFile)) return readFileSync(this.paths.databaseUrlFile, 'utf8').trim()
    throw new CliError('DATABASE_URL_MISSING', `this devnet uses an external PostgreSQL; set DATABASE_URL`)
  }

  /** The cluster CA and node certificates, and the etcd CA, member, root and node-<i> client certificates. */
  private ensureCerts(): void {
    const p = this.paths
    const native = require('@tw/native') as typeof import('@tw/native')
    const all = [p.caCert(), ...Array.from({ length: CLUSTER_SIZE }, (_, i) => [p.nodeCert(i + 1), p.nodeKey(i + 1)]).flat()]
    if (!all.every((f) => existsSync(f))) {
      mkdirSync(p.caKeyDir, { recursive: true, mode: 0o700 })
      native.generateClusterCerts(p.certs, CLUSTER_SIZE, p.caKeyDir, 365)
    }
    const etcd = [
      p.etcdCaCert(),
      p.etcdServerCert(),
      p.etcdServerKey(),
      ...['root', ...Array.from({ length: CLUSTER_SIZE }, (_, i) => `node-${i + 1}`)].flatMap((u) => [p.etcdClientCert(u), p.etcdClientKey(u)]),
    ]
    if (!etcd.every((f) => existsSync(f))) {
      mkdirSync(p.caKeyDir, { recursive: true, mode: 0o700 })
      native.generateEtcdCerts(p.certs, CLUSTER_SIZE, p.caKeyDir, 365)
    }
  }

  /** A devnet whose etcd was bootstrapped over plain http cannot be switched to TLS in place. */
  private checkEtcdTls(state: DevnetState): void {
    if (state.etcdTls) return
    if (etcdBootstrapped(this.paths, state.etcd)) {
      throw new CliError(
        'DEVNET_ETCD_INSECURE',
        `this devnet's etcd was created without TLS and client-certificate authentication, which etcd cannot switch in place; ` +
          `run \`threshold-wallet devnet down --dir ${this.paths.root}\` and delete ${this.paths.root} (or use another --dir) to start a new devnet`,
      )
    }
    state.etcdTls = true
    this.save(state)
  }

  /**
   * Brings the devnet up: etcd, PostgreSQL, certificates, secrets, five nodes, then one key
   * per protocol. Whatever already runs is left alone, so running it twice is safe.
   */
  async up(o: UpOptions, r: Reporter): Promise<DevnetUpResult> {
    const env = o.env ?? process.env
    const entry = nodeEntry(env)
    if (!existsSync(entry)) {
      throw new CliError('NODE_NOT_BUILT', `node service not built: ${entry} is missing; run \`npx tsc -b\` at the repository root`)
    }
    if (!findEtcd(env)) throw new CliError('ETCD_NOT_FOUND', 'etcd not found on PATH: install it with `apt-get install etcd-server`')
    const chainEntry = regtestEntry(env)
    if (!existsSync(chainEntry)) {
      throw new CliError(
        'REGTEST_NOT_BUILT',
        `regtest chain not built: ${chainEntry} is missing; build it with \`npx tsc -b apps/regtest\` (package @tw/regtest) or set TW_REGTEST_ENTRY`,
      )
    }
    mkdirSync(this.paths.root, { recursive: true })
    let state = this.readState()
    if (!state) {
      state = await this.createState(o, env)
      this.save(state)
    } else if (o.basePortExplicit && state.nodes[0].apiPort !== o.basePort) {
      r.warn(`Warning: ${this.paths.state} fixes the API ports at ${state.nodes[0].apiPort}..${state.nodes[0].apiPort + CLUSTER_SIZE - 1}; --base-port ${o.basePort} ignored.`)
    }
    if (state.database.mode === 'external' && env.DATABASE_URL && !existsSync(this.paths.databaseUrlFile)) {
      this.secret(this.paths.databaseUrlFile, () => env.DATABASE_URL ?? '')
    }
    if (state.database.mode === 'embedded' && env.DATABASE_URL) {
      r.warn(`Warning: this devnet was created with an embedded PostgreSQL; DATABASE_URL is ignored.`)
    }
    r.warn(INSECURE_WARNING)
    this.applyByzantine(state, o, r)

    const passphrases = state.nodes.map((n) => this.secret(this.paths.passphraseFile(n.id), () => randomBytes(32).toString('base64url')))
    // The devnet's admin API token: generated once, kept in secrets/ (0600); the nodes get only
    // its SHA-256, and the CLI reads the file for requests to devnet nodes (shared/cli-config).
    const adminTokenSha256 = createHash('sha256').update(this.adminToken()).digest('hex')
    try {
      registerDevnetToken(state.nodes.map(urls.api), this.adminTokenFile, env)
    } catch (err) {
      r.warn(`Warning: could not register the devnet's API token for other directories: ${(err as Error).message}`)
    }
    this.checkEtcdTls(state)
    await r.step('Certificates', async () => this.ensureCerts())

    const s = state
    const startedEtcd = await r.step('Starting etcd (3 members, TLS + client certificates)', () =>
      startEtcd(this.paths, s.etcd, s.clusterToken, { timeoutMs: 60_000, onProgress: (p) => r.progress(p) }).finally(() => this.save(s)),
    )
    await r.step('etcd ACL (per-node users and partitions, auth on)', async () => {
      r.progress(await applyEtcdAcl(this.paths, s.etcd, CLUSTER_SIZE, env))
    })

    let startedPostgres = false
    const server = this.serverUrl(state, env)
    if (state.database.mode === 'embedded') {
      const pg = await r.step(`Starting embedded PostgreSQL on 127.0.0.1:${state.database.port}`, () =>
        startEmbeddedPostgres(this.paths, {
          port: s.database.port ?? 0,
          pid: s.database.pid,
          password: this.secret(this.paths.postgresPasswordFile, () => randomBytes(24).toString('hex')),
          timeoutMs: 60_000,
        }),
      )
      state.database.pid = pg.pid
      startedPostgres = pg.started
      this.save(state)
    }
    const createdDatabase = await r.step(`Database ${state.database.name}`, () => ensureDatabase(server, s.database.name))
    const databaseUrl = withDatabase(server, state.database.name)

    const external = this.applyChain(state, o)
    let startedRegtest = false
    let chainUrl: string
    if (external) {
      chainUrl = external.url
      // The nodes probe it too (network, /api, HTML) and refuse to start on a wrong one.
      await r.step(`Outside chain ${describeChain(external)}`, async () => {
        const tip = await chainTipHeight(external.url, 10_000)
        if (tip === undefined) {
          throw new CliError(
            'CHAIN_UNREACHABLE',
            `the chain at ${external.url} does not answer GET /blocks/tip/height; check --chain-url (an Esplora API base, e.g. ${external.network === 'regtest' ? 'http://127.0.0.1:3002' : PUBLIC_ESPLORA[external.network]})`,
          )
        }
        r.progress(`tip ${tip}`)
      })
    } else {
      const chain = await this.ensureRegtestState(state)
      startedRegtest = await this.startChain(state, chain, o, env, r)
      chainUrl = urls.chain(chain)
    }
    const network = external?.network ?? 'regtest'

    const startedNodes: number[] = []
    await r.step('Starting nodes', async () => {
      for (const n of s.nodes) {
        if (isOurs(n.pid, nodeMarker(this.paths, n.id))) continue
        if (!(await tcpPortFree(n.apiPort))) {
          throw new CliError('DEVNET_PORT_IN_USE', `port ${n.apiPort} (node ${n.id} API) is in use by another process`)
        }
        if (!(await udpPortFree(n.quicPort))) {
          throw new CliError('DEVNET_PORT_IN_USE', `UDP port ${n.quicPort} (node ${n.id} QUIC) is in use by another process`)
        }
        mkdirSync(this.paths.keystore(n.id), { recursive: true, mode: 0o700 })
        const vars = nodeEnv({ paths: this.paths, state: s, node: n, databaseUrl, chainUrl, network, passphrase: passphrases[n.id - 1], logLevel: o.logLevel, adminTokenSha256 })
        const inherited = { ...env }
        for (const k of DRILL_ENV_VARS) delete inherited[k]
        n.pid = spawnDetached(process.execPath, [entry], { env: { ...inherited, NO_COLOR: '1', ...vars }, cwd: nodeCwd(entry), logFile: this.paths.nodeLog(n.id) })
        startedNodes.push(n.id)
        this.save(s)
      }
      r.progress(startedNodes.length ? `started ${startedNodes.join(', ')}` : 'all running')
    })

    await r.step('Waiting for 5 nodes to be ready', () => this.waitReady(s, o.readyTimeoutMs, r))

    let keys: KeyDto[] = []
    if (o.createKeys) keys = await r.step('Keys (ECDSA and Schnorr)', () => this.ensureKeys(s, o.keysTimeoutMs, r))

    const status = await this.status()
    return {
      ...status,
      warning: INSECURE_WARNING,
      started: { etcd: startedEtcd, postgres: startedPostgres, regtest: startedRegtest, nodes: startedNodes },
      createdDatabase,
      keys,
    }
  }

  /**
   * Records the requested drill in the state (only while no node runs: a running node keeps
   * the environment it started with) and warns loudly when the devnet runs with one.
   */
  private applyByzantine(state: DevnetState, o: UpOptions, r: Reporter): void {
    const running = state.nodes.filter((n) => isOurs(n.pid, nodeMarker(this.paths, n.id))).map((n) => n.id)
    const plan = planByzantine(state.byzantine, o.byzantine, running)
    if (plan.blockedBy && o.byzantine) r.warn(byzantineBlockedWarning(state.byzantine ?? [], o.byzantine, plan.blockedBy))
    if (plan.changed) {
      if (plan.byzantine.length > 0) state.byzantine = plan.byzantine
      else delete state.byzantine
      this.save(state)
    }
    if (plan.byzantine.length > 0) r.warn(byzantineWarning(plan.byzantine))
  }

  /** The outside chain the nodes get (recorded in state.json), or undefined for the embedded one. */
  private applyChain(state: DevnetState, o: UpOptions): ExternalChainState | undefined {
    const running = state.nodes.filter((n) => isOurs(n.pid, nodeMarker(this.paths, n.id))).map((n) => n.id)
    const plan = planChain(state.externalChain, o.chain, running)
    if (plan.changed) {
      if (plan.chain) state.externalChain = plan.chain
      else delete state.externalChain
      this.save(state)
    }
    return plan.chain
  }

  /** The chain's state; a devnet created before it had a chain gets a free port now. */
  private async ensureRegtestState(state: DevnetState): Promise<RegtestState> {
    if (state.regtest) return state.regtest
    const taken = [
      ...state.nodes.flatMap((n) => [n.apiPort, n.quicPort]),
      ...state.etcd.flatMap((m) => [m.clientPort, m.peerPort]),
      ...(state.database.port !== null ? [state.database.port] : []),
    ]
    const [port] = await pickFreePorts(1, 'tcp', taken)
    state.regtest = { port, pid: null, blockIntervalMs: 0 }
    this.save(state)
    return state.regtest
  }

  /** Starts the regtest chain unless it runs; true if it was started. */
  private async startChain(state: DevnetState, chain: RegtestState, o: UpOptions, env: NodeJS.ProcessEnv, r: Reporter): Promise<boolean> {
    const running = isOurs(chain.pid, regtestMarker(this.paths))
    if (o.blockIntervalMs !== undefined && o.blockIntervalMs !== chain.blockIntervalMs) {
      if (running) {
        r.warn(
          `Warning: the regtest chain already runs with a block interval of ${chain.blockIntervalMs / 1000}s; --block-interval ignored (run \`threshold-wallet devnet down\` first to change it).`,
        )
      } else {
        chain.blockIntervalMs = o.blockIntervalMs
      }
    }
    const interval = chain.blockIntervalMs > 0 ? `a block every ${chain.blockIntervalMs / 1000}s` : 'mining on demand'
    const res = await r.step(`Starting regtest chain on ${urls.chain(chain)} (${interval})`, () =>
      startRegtest(this.paths, chain, { timeoutMs: 60_000, env, onProgress: (p) => r.progress(p) }),
    )
    chain.pid = res.pid
    this.save(state)
    return res.started
  }

  private async waitReady(state: DevnetState, timeoutMs: number, r: Reporter): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const health = await Promise.all(state.nodes.map((n) => nodeHealth(n)))
      const ready = health.filter((h) => h.health === 'ready').length
      r.progress(`${ready}/${state.nodes.length} ready`)
      if (ready === state.nodes.length) return
      for (const n of state.nodes) {
        if (!isOurs(n.pid, nodeMarker(this.paths, n.id))) {
          throw new CliError('NODE_EXITED', `node ${n.id} exited during startup${this.lastLogLine(n.id)}; see ${this.paths.nodeLog(n.id)}`)
        }
      }
      if (Date.now() > deadline) {
        const i = health.findIndex((h) => h.health !== 'ready')
        const n = state.nodes[i]
        throw new CliError(
          'NODE_UNHEALTHY',
          `node ${n.id} (${urls.api(n)}) not ready after ${Math.round(timeoutMs / 1000)}s: ${health[i].reason ?? health[i].health}; see ${this.paths.nodeLog(n.id)}`,
        )
      }
      await sleep(1000)
    }
  }

  /**
   * What the node's log says it died of: the message line of its last stack trace (the last
   * line that is not a stack frame), else its last line.
   */
  private lastLogLine(id: number): string {
    try {
      const lines = readFileSync(this.paths.nodeLog(id), 'utf8').trim().split('\n')
      const frame = /^\s*at /
      let i = lines.length - 1
      while (i > 0 && frame.test(lines[i])) i--
      const last = lines[i]?.trim()
      const shown = last && last.length > 300 ? last.slice(0, 300) + '…' : last
      return shown ? ` (${i < lines.length - 1 ? 'it died of' : 'last log line'}: ${shown})` : ''
    } catch {
      return ''
    }
  }

  /** Creates one key per protocol unless one exists, then waits until every node lists them active. */
  private async ensureKeys(state: DevnetState, timeoutMs: number, r: Reporter): Promise<KeyDto[]> {
    const deadline = Date.now() + timeoutMs
    const token = this.adminToken()
    const clients = state.nodes.map((n) => new ApiClient({ baseUrl: urls.api(n), token, timeoutMs: 15_000 }))
    // /health/ready is per node; a DKG needs the cluster to see all five (etcd heartbeats).
    for (;;) {
      const s = await clients[0].clusterStatus().catch(() => undefined)
      r.progress(`cluster sees ${s?.nodesUp ?? 0}/${CLUSTER_SIZE} nodes up`)
      if (s && s.nodesUp === CLUSTER_SIZE && s.leader !== null) break
      if (Date.now() > deadline) {
        throw new CliError(
          'CLUSTER_UNAVAILABLE',
          `cluster shows ${s?.nodesUp ?? 0}/${CLUSTER_SIZE} nodes up${s?.leader == null ? ', no leader' : ''} after ${Math.round(timeoutMs / 1000)}s; see ${this.paths.logs}`,
        )
      }
      await sleep(1000)
    }
    const existing = (await clients[0].listKeys()).keys
    for (const protocol of PROTOCOLS) {
      if (existing.some((k) => k.protocol === protocol && k.status !== 'failed')) continue
      r.progress(`creating ${protocol} key`)
      for (;;) {
        try {
          await clients[0].createKey({ protocol }, Math.max(1000, deadline - Date.now()))
          break
        } catch (err) {
          if (err instanceof ApiError && err.code === 'KEY_EXISTS') break
          // Membership or leadership still settling: retry until the deadline.
          const transient = err instanceof ApiError && (err.code === 'CLUSTER_UNAVAILABLE' || err.code === 'NOT_LEADER' || err.status === 503)
          if (!transient || Date.now() > deadline) throw err
          r.progress(`${protocol}: ${(err as ApiError).message}; retrying`)
          await sleep(2000)
        }
      }
    }
    for (;;) {
      const lists = await Promise.all(
        clients.map((c) =>
          c.listKeys().then(
            (l) => l.keys,
            () => undefined,
          ),
        ),
      )
      const done = PROTOCOLS.map((protocol) => {
        const first = lists[0]?.find((k) => k.protocol === protocol && k.status === 'active')
        const everywhere = first !== undefined && lists.every((l) => l?.some((k) => k.id === first.id && k.status === 'active' && k.publicKey === first.publicKey))
        return { protocol, first, everywhere, pending: lists[0]?.find((k) => k.protocol === protocol && k.status === 'pending') }
      })
      r.progress(done.map((d) => `${d.protocol} ${d.everywhere ? 'active' : d.first ? 'active on some nodes' : d.pending ? 'pending' : 'missing'}`).join(', '))
      if (done.every((d) => d.everywhere)) return lists[0] ?? []
      const failed = done.find((d) => !d.first && !d.pending && lists[0]?.some((k) => k.protocol === d.protocol && k.status === 'failed'))
      if (failed) {
        const k = lists[0]?.find((x) => x.protocol === failed.protocol && x.status === 'failed')
        throw new CliError('DKG_FAILED', `${failed.protocol} key ${k?.id ?? ''} failed: ${k?.error ?? 'no reason given'}`)
      }
      if (Date.now() > deadline) {
        const missing = done.filter((d) => !d.everywhere).map((d) => d.protocol)
        throw new CliError('KEYS_TIMEOUT', `${missing.join(' and ')} key not active on all nodes after ${Math.round(timeoutMs / 1000)}s; see ${this.paths.logs}`)
      }
      await sleep(2000)
    }
  }

  /** Per node: URLs, pid, health; plus etcd and the database. */
  async status(env: NodeJS.ProcessEnv = process.env): Promise<DevnetStatusResult> {
    const state = this.requireState()
    const nodes = await Promise.all(
      state.nodes.map(async (n): Promise<DevnetNodeStatus> => {
        const running = isOurs(n.pid, nodeMarker(this.paths, n.id))
        const h = running ? await nodeHealth(n) : { health: 'stopped' as const, reason: undefined }
        return { id: n.id, apiUrl: urls.api(n), quicAddr: urls.quic(n), pid: running ? n.pid : null, running, health: h.health, reason: h.reason, log: this.paths.nodeLog(n.id) }
      }),
    )
    const members = await Promise.all(
      state.etcd.map(async (m): Promise<DevnetEtcdStatus> => {
        const running = isOurs(m.pid, etcdMarker(this.paths, m))
        return {
          name: m.name,
          clientUrl: urls.etcdClient(m),
          peerUrl: urls.etcdPeer(m),
          pid: running ? m.pid : null,
          running,
          healthy: running && (await etcdHealthy(this.paths, m)),
        }
      }),
    )
    let url: string | undefined
    try {
      url = withDatabase(this.serverUrl(state, env), state.database.name)
    } catch {
      url = undefined
    }
    const pgPid = state.database.mode === 'embedded' ? (runningPostmaster(this.paths, state.database.pid) ?? null) : null
    let chain: DevnetChainStatus | null = null
    if (state.externalChain) {
      const tip = await chainTipHeight(state.externalChain.url, 5000)
      chain = {
        url: state.externalChain.url,
        network: state.externalChain.network,
        external: true,
        pid: null,
        running: tip !== undefined,
        healthy: tip !== undefined,
        tipHeight: tip ?? null,
        blockIntervalMs: 0,
        log: '',
      }
    } else if (state.regtest) {
      const running = isOurs(state.regtest.pid, regtestMarker(this.paths))
      const tip = running ? await chainTipHeight(urls.chain(state.regtest)) : undefined
      chain = {
        url: urls.chain(state.regtest),
        network: 'regtest',
        external: false,
        pid: running ? state.regtest.pid : null,
        running,
        healthy: tip !== undefined,
        tipHeight: tip ?? null,
        blockIntervalMs: state.regtest.blockIntervalMs,
        log: this.paths.regtestLog,
      }
    }
    return {
      dir: this.paths.root,
      insecureTestPrimes: true,
      nodes,
      healthyNodes: nodes.filter((n) => n.health === 'ready').length,
      etcd: { endpoints: members.map((m) => m.clientUrl), members },
      chain,
      byzantine: state.byzantine ?? [],
      database: {
        mode: state.database.mode,
        url: url ? maskUrl(url) : '(DATABASE_URL not set)',
        name: state.database.name,
        pid: pgPid,
        running: state.database.mode === 'embedded' ? pgPid !== null : url !== undefined,
        healthy: url !== undefined && (state.database.mode === 'external' || pgPid !== null) && (await databaseReachable(url, 2000)),
      },
    }
  }

  /** Stops nodes, then etcd, then the embedded PostgreSQL; data stays. */
  async down(o: { graceMs: number }, r: Reporter): Promise<DevnetDownResult> {
    const state = this.readState()
    if (!state) return { dir: this.paths.root, existed: false, stopped: [], busyPorts: [] }
    const stopped: DevnetDownResult['stopped'] = []
    const stop = async (name: string, pid: number, signal?: NodeJS.Signals, graceMs = o.graceMs): Promise<void> => {
      const outcome = await stopGroup(pid, { graceMs, signal })
      if (outcome !== 'not-running') stopped.push({ name, pid, outcome })
    }
    await r.step('Stopping nodes', () =>
      Promise.all(
        state.nodes.map(async (n) => {
          if (isOurs(n.pid, nodeMarker(this.paths, n.id))) await stop(`node-${n.id}`, n.pid)
          n.pid = null
        }),
      ),
    )
    this.save(state)
    const chain = state.regtest
    if (chain) {
      if (isOurs(chain.pid, regtestMarker(this.paths))) {
        const pid = chain.pid
        await r.step('Stopping regtest chain', () => stop('regtest', pid))
      }
      chain.pid = null
      this.save(state)
    }
    await r.step('Stopping etcd', () =>
      Promise.all(
        state.etcd.map(async (m) => {
          if (isOurs(m.pid, etcdMarker(this.paths, m))) await stop(m.name, m.pid)
          m.pid = null
        }),
      ),
    )
    this.save(state)
    if (state.database.mode === 'embedded') {
      const pid = runningPostmaster(this.paths, state.database.pid)
      if (pid !== undefined) {
        // SIGINT is PostgreSQL's "fast" shutdown: clean, without waiting for clients.
        await r.step('Stopping embedded PostgreSQL', () => stop('postgres', pid, 'SIGINT', Math.max(o.graceMs, 30_000)))
      }
      state.database.pid = null
      this.save(state)
    }
    const busyPorts: number[] = []
    for (const n of state.nodes) {
      if (!(await tcpPortFree(n.apiPort))) busyPorts.push(n.apiPort)
      if (!(await udpPortFree(n.quicPort))) busyPorts.push(n.quicPort)
    }
    for (const m of state.etcd) {
      for (const p of [m.clientPort, m.peerPort]) if (!(await tcpPortFree(p))) busyPorts.push(p)
    }
    if (state.database.port !== null && !(await tcpPortFree(state.database.port))) busyPorts.push(state.database.port)
    if (state.regtest && !(await tcpPortFree(state.regtest.port))) busyPorts.push(state.regtest.port)
    return { dir: this.paths.root, existed: true, stopped, busyPorts }
  }
}
