import { Logger } from '@nestjs/common'
import { Etcd3, Range, type IKeyValue, type Lease, type Watcher } from 'etcd3'
import { Counter, type Registry } from 'prom-client'
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { errorMessage, withTimeout } from '../common/async'

/** Key layout in etcd (all under `/tw/`). */
export const EtcdKeys = {
  node: (id: number) => `/tw/nodes/${id}`,
  nodes: '/tw/nodes/',
  leader: '/tw/leader',
  primes: '/tw/primes/',
  prime: (id: number) => `/tw/primes/${id}`,
  bans: '/tw/bans/',
  ban: (id: number) => `/tw/bans/${id}`,
  dkgRequests: '/tw/dkg-requests/',
  dkgRequest: (jobId: string) => `/tw/dkg-requests/${jobId}`,
  dkg: '/tw/dkg/',
  dkgJob: (jobId: string) => `/tw/dkg/${jobId}`,
  /** Node `nodeId`'s outcome of DKG job `jobId`, in its own partition (only it may write there). */
  dkgResult: (jobId: string, nodeId: number) => `/tw/n/${nodeId}/dkg-results/${jobId}`,
  dkgResultsBy: (nodeId: number) => `/tw/n/${nodeId}/dkg-results/`,
  keys: '/tw/keys/',
  key: (keyId: string) => `/tw/keys/${keyId}`,
  auxCurrent: '/tw/aux/current',
  /** Node `nodeId`'s outcome of aux info generation `auxId`, in its own partition. */
  auxResult: (auxId: string, nodeId: number) => `/tw/n/${nodeId}/aux-results/${auxId}`,
} as const

/** A value read from etcd with the revisions that matter. */
export interface EtcdEntry<T> {
  key: string
  value: T
  createRevision: string
  modRevision: string
  lease: string
}

/** The current leadership term: who, and the fencing token (create revision of `/tw/leader`). */
export interface LeaderRecord {
  nodeId: number
  leaseId: string
  apiUrl: string
  electedAt: string
  term: string
}

export interface EtcdMember {
  id: string
  name: string
  clientUrls: string[]
}

/** The etcd CA and a client certificate + key (PEM files): the certificate's CN is the etcd user. */
export interface EtcdTlsFiles {
  caPath: string
  certPath: string
  keyPath: string
}

export interface EtcdRepositoryOptions {
  endpoints: string[]
  leaseTtlSeconds: number
  /** Deadline of a unary call (default 3000 ms). */
  callTimeoutMs?: number
  /** Client TLS (endpoints `https://`); without it, plain http and no etcd authentication. */
  tls?: EtcdTlsFiles | null
  /** Called once per request sent to etcd (not per watch event): what kind, and which key area (see {@link etcdArea}). */
  onRequest?: (op: EtcdOp, area: string) => void
}

/** The kinds of etcd request a node sends: one Raft round trip each for `txn`/`put`/`delete`, a linearizable read for `get`/`range`. */
export type EtcdOp = 'get' | 'range' | 'put' | 'delete' | 'txn' | 'lease' | 'watch' | 'cluster'

/**
 * The area of the key layout a key belongs to, with few enough values to be a metric label:
 * `/tw/tx/<id>` → `tx`, `/tw/n/<node>/votes/…` → `n/votes`, `/tw/leader` → `leader`.
 */
export function etcdArea(key: string): string {
  const parts = key.split('/')
  if (parts[1] !== 'tw' || !parts[2]) return 'other'
  if (parts[2] === 'n') return parts[4] ? `n/${parts[4]}` : 'n'
  return parts[2]
}

/** The etcd3 `credentials` option from the TLS files (read once, at construction). */
export function etcdCredentials(tls: EtcdTlsFiles): { rootCertificate: Buffer; certChain: Buffer; privateKey: Buffer } {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path)
    } catch (err) {
      throw new Error(`cannot read the etcd ${what} ${path}: ${errorMessage(err)}`)
    }
  }
  return { rootCertificate: read('CA certificate', tls.caPath), certChain: read('client certificate', tls.certPath), privateKey: read('client key', tls.keyPath) }
}

/**
 * The one door to etcd. Knows key layout, leases, transactions and watches; decides
 * nothing. Everything a node holds in etcd lives under one *session lease*: when the process
 * dies or is cut off, its membership and leadership vanish with the lease (TTL seconds).
 *
 * Events: `sessionLost` (the lease expired or could not be kept alive).
 *
 * @example
 * const etcd = new EtcdRepository({ endpoints: ['http://127.0.0.1:2379'], leaseTtlSeconds: 5 })
 * await etcd.startSession()
 * const term = await etcd.campaign({ nodeId: 1, apiUrl })
 * await etcd.fencedPut(term.term, '/tw/keys/k1', { status: 'active' }) // false once deposed
 */
export class EtcdRepository extends EventEmitter {
  private readonly log = new Logger('Etcd')
  private readonly client: Etcd3
  private lease: Lease | null = null
  private leaseId: string | null = null
  private readonly watchers = new Set<Watcher>()
  private readonly callTimeoutMs: number
  private closed = false

  constructor(private readonly opts: EtcdRepositoryOptions) {
    super()
    this.callTimeoutMs = opts.callTimeoutMs ?? 3000
    this.client = new Etcd3({
      hosts: opts.endpoints,
      ...(opts.tls ? { credentials: etcdCredentials(opts.tls) } : {}),
      dialTimeout: 2000,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.callTimeoutMs }),
    })
  }

  get endpoints(): string[] {
    return this.opts.endpoints
  }

  /** The current session lease id, or null when there is none (not started, or lost). */
  get sessionLeaseId(): string | null {
    return this.leaseId
  }

  /** Grants a fresh session lease, kept alive automatically. */
  async startSession(): Promise<string> {
    this.dropLease()
    const lease = this.client.lease(this.opts.leaseTtlSeconds, { autoKeepAlive: true })
    lease.on('lost', (err) => {
      if (this.lease !== lease) return
      this.log.warn(`session lease lost: ${errorMessage(err)}`)
      this.dropLease()
      this.emit('sessionLost')
    })
    try {
      const id = await this.timed(lease.grant(), 'lease grant', 'lease', '')
      this.lease = lease
      this.leaseId = id
      return id
    } catch (err) {
      lease.release()
      throw err
    }
  }

  /** Revokes the session lease: every key under it disappears at once. */
  async revokeSession(): Promise<void> {
    const lease = this.lease
    this.lease = null
    this.leaseId = null
    if (lease) await this.timed(lease.revoke(), 'lease revoke', 'lease', '').catch(() => undefined)
  }

  /**
   * Stops keeping the session lease alive without revoking it, as a frozen or cut-off
   * process would: the lease expires after its TTL. For failure drills and tests.
   */
  abandonSession(): void {
    this.dropLease()
  }

  /** Puts `key` under the session lease. */
  async putEphemeral(key: string, value: unknown): Promise<void> {
    const leaseId = this.requireLease()
    await this.timed(this.client.put(key).value(JSON.stringify(value)).lease(leaseId).exec(), `put ${key}`, 'put', key)
  }

  async put(key: string, value: unknown): Promise<void> {
    await this.timed(this.client.put(key).value(JSON.stringify(value)).exec(), `put ${key}`, 'put', key)
  }

  /** Creates `key` only if it does not exist; returns whether it was created. */
  async putIfAbsent(key: string, value: unknown): Promise<boolean> {
    const res = await this.timed(
      this.client
        .if(key, 'Create', '==', 0)
        .then(this.client.put(key).value(JSON.stringify(value)))
        .commit(),
      `create ${key}`,
      'txn',
      key,
    )
    return res.succeeded
  }

  async delete(key: string): Promise<void> {
    await this.timed(this.client.delete().key(key).exec(), `delete ${key}`, 'delete', key)
  }

  async get<T>(key: string): Promise<EtcdEntry<T> | null> {
    const res = await this.timed(this.client.get(key).exec(), `get ${key}`, 'get', key)
    const kv = res.kvs[0]
    return kv ? toEntry<T>(kv) : null
  }

  /** Every entry under `prefix`, in key order. */
  async getPrefix<T>(prefix: string): Promise<EtcdEntry<T>[]> {
    const res = await this.timed(this.client.getAll().prefix(prefix).exec(), `range ${prefix}`, 'range', prefix)
    return res.kvs.map((kv) => toEntry<T>(kv))
  }

  /**
   * The entries under `prefix` in key order, one range request of at most `pageSize` keys at a
   * time (each starting after the last key of the one before): a prefix holding more than a
   * gRPC response can carry (4 MiB) is still read, page by page, without one huge answer.
   */
  async *getPrefixPaged<T>(prefix: string, pageSize = 200): AsyncGenerator<EtcdEntry<T>[]> {
    const end = Range.prefix(prefix).end
    let start = Buffer.from(prefix)
    for (;;) {
      const res = await this.timed(this.client.getAll().inRange(new Range(start, end)).limit(pageSize).exec(), `range ${prefix} (page)`, 'range', prefix)
      if (res.kvs.length === 0) return
      yield res.kvs.map((kv) => toEntry<T>(kv))
      if (!res.more && res.kvs.length < pageSize) return
      // The next page starts right after the last key read (that key plus a zero byte).
      start = Buffer.concat([res.kvs[res.kvs.length - 1].key, Buffer.from([0])])
    }
  }

  /**
   * Tries to become leader: creates `/tw/leader` under the session lease if nobody holds it.
   * Returns the term in force afterwards (ours or the incumbent's), or null if the key
   * vanished in between.
   */
  async campaign(candidate: { nodeId: number; apiUrl: string }): Promise<LeaderRecord | null> {
    const leaseId = this.requireLease()
    const value = { nodeId: candidate.nodeId, leaseId, apiUrl: candidate.apiUrl, electedAt: new Date().toISOString() }
    const res = await this.timed(
      this.client
        .if(EtcdKeys.leader, 'Create', '==', 0)
        .then(this.client.put(EtcdKeys.leader).value(JSON.stringify(value)).lease(leaseId))
        .else(this.client.get(EtcdKeys.leader))
        .commit(),
      'campaign',
      'txn',
      EtcdKeys.leader,
    )
    if (res.succeeded) return { ...value, term: String(res.header.revision) }
    const kv = res.responses[0]?.response_range?.kvs?.[0]
    return kv ? toLeader(kv) : null
  }

  async getLeader(): Promise<LeaderRecord | null> {
    const res = await this.timed(this.client.get(EtcdKeys.leader).exec(), 'get leader', 'get', EtcdKeys.leader)
    const kv = res.kvs[0]
    return kv ? toLeader(kv) : null
  }

  /** Gives up leadership of `term` (only if it is still that term). */
  async resign(term: string): Promise<void> {
    await this.timed(this.client.if(EtcdKeys.leader, 'Create', '==', term).then(this.client.delete().key(EtcdKeys.leader)).commit(), 'resign', 'txn', EtcdKeys.leader)
  }

  /**
   * Deletes `key` only if its create revision is still `createRevision` (one etcd txn).
   * Returns whether it was deleted. Ends a leadership term without holding it: a follower
   * that sees a banned leader deletes `/tw/leader` of exactly that term, never a newer one.
   */
  async deleteIfCreateRevision(key: string, createRevision: string): Promise<boolean> {
    const res = await this.timed(this.client.if(key, 'Create', '==', createRevision).then(this.client.delete().key(key)).commit(), `delete ${key} @${createRevision}`, 'txn', key)
    return res.succeeded
  }

  /**
   * A leader write, fenced: applied only if `/tw/leader` still has create revision `term`
   * (checked by etcd inside the same transaction). A deposed leader that wakes up late gets
   * `false` and nothing is written.
   */
  async fencedPut(term: string, key: string, value: unknown, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    let txn = this.client.if(EtcdKeys.leader, 'Create', '==', term)
    if (opts.ifAbsent) txn = txn.and(key, 'Create', '==', 0)
    const res = await this.timed(txn.then(this.client.put(key).value(JSON.stringify(value))).commit(), `fenced put ${key}`, 'txn', key)
    return res.succeeded
  }

  /**
   * Several leader writes in one fenced transaction: all or nothing, and nothing at all
   * unless `/tw/leader` still has create revision `term` and every `absent` key is missing
   * and every `unchanged` key still has the given mod revision.
   */
  async fencedTxn(term: string, ops: { puts?: [string, unknown][]; deletes?: string[]; absent?: string[]; unchanged?: [string, string][] }): Promise<boolean> {
    let txn = this.client.if(EtcdKeys.leader, 'Create', '==', term)
    for (const key of ops.absent ?? []) txn = txn.and(key, 'Create', '==', 0)
    for (const [key, rev] of ops.unchanged ?? []) txn = txn.and(key, 'Mod', '==', rev)
    const clauses = [
      ...(ops.puts ?? []).map(([key, value]) => this.client.put(key).value(JSON.stringify(value))),
      ...(ops.deletes ?? []).map((key) => this.client.delete().key(key)),
    ]
    const res = await this.timed(txn.then(...clauses).commit(), 'fenced txn', 'txn', ops.puts?.[0]?.[0] ?? ops.deletes?.[0] ?? '')
    return res.succeeded
  }

  /**
   * An all-or-nothing transaction without fencing: applies `puts`/`deletes` only if every key
   * in `absent` is missing and every key in `unchanged` still has the given mod revision.
   * Returns whether it was applied. Used for reservations any node may take (UTXO locks,
   * address indexes, idempotency keys).
   */
  async atomic(ops: { absent?: string[]; unchanged?: [string, string][]; puts?: [string, unknown][]; deletes?: string[] }): Promise<boolean> {
    const absent = ops.absent ?? []
    const unchanged = ops.unchanged ?? []
    if (absent.length + unchanged.length === 0) throw new Error('atomic: nothing to compare')
    let txn = absent.length ? this.client.if(absent[0], 'Create', '==', 0) : this.client.if(unchanged[0][0], 'Mod', '==', unchanged[0][1])
    for (const key of absent.slice(1)) txn = txn.and(key, 'Create', '==', 0)
    for (const [key, rev] of absent.length ? unchanged : unchanged.slice(1)) txn = txn.and(key, 'Mod', '==', rev)
    const clauses = [
      ...(ops.puts ?? []).map(([key, value]) => this.client.put(key).value(JSON.stringify(value))),
      ...(ops.deletes ?? []).map((key) => this.client.delete().key(key)),
    ]
    const res = await this.timed(txn.then(...clauses).commit(), 'txn', 'txn', ops.puts?.[0]?.[0] ?? ops.deletes?.[0] ?? absent[0] ?? '')
    return res.succeeded
  }

  /** Fenced delete (see {@link fencedPut}). */
  async fencedDelete(term: string, key: string): Promise<boolean> {
    const res = await this.timed(this.client.if(EtcdKeys.leader, 'Create', '==', term).then(this.client.delete().key(key)).commit(), `fenced delete ${key}`, 'txn', key)
    return res.succeeded
  }

  /**
   * Calls `onChange(key, deleted, entry)` on every put/delete under `prefix`; `entry()` parses
   * the value put (null for a delete or a value that is not JSON) only for a watcher that asks,
   * so watchers that only need the key parse nothing. Reconnects by itself.
   */
  async watchPrefix(prefix: string, onChange: (key: string, deleted: boolean, entry: () => EtcdEntry<unknown> | null) => void): Promise<void> {
    const watcher = await this.timed(this.client.watch().prefix(prefix).create(), `watch ${prefix}`, 'watch', prefix)
    this.watchers.add(watcher)
    watcher.on('put', (kv) => onChange(kv.key.toString(), false, () => parseEntry(kv)))
    watcher.on('delete', (kv) => onChange(kv.key.toString(), true, () => null))
    watcher.on('error', (err) => this.log.debug(`watch ${prefix}: ${errorMessage(err)}`))
  }

  async members(): Promise<EtcdMember[]> {
    const res = await this.timed(this.client.cluster.memberList({}), 'member list', 'cluster', '')
    return res.members.map((m) => ({ id: String(m.ID), name: m.name, clientUrls: m.clientURLs ?? [] }))
  }

  /** Stops watches and closes the client (without revoking: call {@link revokeSession} first). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const w of this.watchers) await w.cancel().catch(() => undefined)
    this.watchers.clear()
    this.dropLease()
    this.client.close()
  }

  private requireLease(): string {
    if (!this.leaseId) throw new Error('no etcd session lease')
    return this.leaseId
  }

  private dropLease(): void {
    const lease = this.lease
    this.lease = null
    this.leaseId = null
    lease?.removeAllListeners()
    lease?.release()
  }

  private timed<T>(p: Promise<T>, what: string, op: EtcdOp, key: string): Promise<T> {
    this.opts.onRequest?.(op, etcdArea(key))
    return withTimeout(p, this.callTimeoutMs + 500, `etcd ${what}: no answer within ${this.callTimeoutMs + 500} ms`)
  }
}

/**
 * `mpc_etcd_requests_total{op,area}` in `registry`, as an `onRequest` for {@link EtcdRepository}:
 * how many round trips to etcd this node makes, and for which part of the key layout (the
 * bench divides it by the sends it made).
 */
export function etcdRequestCounter(registry: Registry): (op: EtcdOp, area: string) => void {
  const counter = new Counter({
    name: 'mpc_etcd_requests_total',
    help: 'Requests this node sent to etcd, by kind (get, range, put, delete, txn, lease, watch, cluster) and key area (tx, presigs, n/votes, …)',
    labelNames: ['op', 'area'] as const,
    registers: [registry],
  })
  return (op, area) => counter.inc({ op, area })
}

function toEntry<T>(kv: IKeyValue): EtcdEntry<T> {
  return {
    key: kv.key.toString(),
    value: JSON.parse(kv.value.toString()) as T,
    createRevision: String(kv.create_revision),
    modRevision: String(kv.mod_revision),
    lease: String(kv.lease),
  }
}

function parseEntry(kv: IKeyValue): EtcdEntry<unknown> | null {
  try {
    return toEntry<unknown>(kv)
  } catch {
    return null
  }
}

function toLeader(kv: IKeyValue): LeaderRecord {
  const v = JSON.parse(kv.value.toString()) as Omit<LeaderRecord, 'term'>
  return { nodeId: v.nodeId, leaseId: v.leaseId, apiUrl: v.apiUrl, electedAt: v.electedAt, term: String(kv.create_revision) }
}
