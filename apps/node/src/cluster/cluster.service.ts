import { Inject, Injectable, Logger } from '@nestjs/common'
import type { ClusterStatusDto, NodeStatusDto } from '@tw/api'
import { Counter } from 'prom-client'
import { AuditService } from '../audit/audit.service'
import { errorMessage, sleep, withTimeout } from '../common/async'
import { BoundedMap, BoundedSet } from '../common/bounded'
import { canonicalJson } from '../common/canonical-json'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { EngineRepository } from '../engine/engine.repository'
import type { PrimesRecord } from '../engine/prime-pool.service'
import { MetricsService } from '../metrics/metrics.service'
import { DatabaseRepository } from '../persistence/database.repository'
import { NodeStatusEntity } from '../persistence/entities'
import { EtcdKeys, EtcdRepository, type EtcdEntry, type EtcdMember, type LeaderRecord } from './etcd.repository'
import { LeaderElector, type LeaderChange } from './leader-elector'
import { WalletKeys, type NoConfidenceMark } from '../wallet/wallet.types'

/** What a node publishes about itself under `/tw/nodes/<id>` (leased). */
export interface NodeRegistration {
  nodeId: number
  apiUrl: string
  quicAddr: string
  startedAt: string
}

export interface BanRecord {
  nodeId: number
  reason: string
  bannedAt: string
}

/**
 * This node's own check of a ban record read from `/tw/bans/<id>` (registered by the
 * Byzantine service, which knows what evidence a ban needs): a ban is honoured only if it
 * holds up, so whoever can write etcd cannot ban an honest node by writing a record.
 */
export type BanVerifier = (ban: EtcdEntry<BanRecord>) => Promise<boolean>

/**
 * This node's check of a follower's no-confidence mark (registered by the Byzantine service:
 * the mark is signed by the node it names).
 */
export type NoConfidenceVerifier = (mark: NoConfidenceMark) => Promise<boolean>

/** How long a ban that did not verify stays unverified before it is checked again (evidence may arrive late). */
const BAN_RECHECK_MS = 5000

const TICK_MS = 1000
const DB_HEARTBEAT_MS = 5000

/**
 * Membership, leadership and bans. Keeps this node registered and campaigning in etcd, and
 * recovers by itself when etcd comes back (new session lease, re-register, re-campaign).
 *
 * @example
 * if (cluster.leaderTerm) await etcd.fencedPut(cluster.leaderTerm, key, value)
 */
@Injectable()
export class ClusterService {
  private readonly log = new Logger('Cluster')
  private readonly elector: LeaderElector
  private readonly startedAt = new Date().toISOString()
  private nodes = new Map<number, EtcdEntry<NodeRegistration>>()
  private bans = new Map<number, BanRecord>()
  private primes = new Map<number, PrimesRecord>()
  private lastEtcdOk = 0
  private etcdError: string | null = null
  private running = false
  private loop: Promise<void> | null = null
  private wake: (() => void) | null = null
  private registeredOnce = false
  private lastDbHeartbeat = 0
  private readonly abort = new AbortController()
  private readonly engineBans = new Set<number>()
  /** Ban records as written in etcd (honoured or not). */
  private rawBans = new Map<number, EtcdEntry<BanRecord>>()
  private banVerifier: BanVerifier | null = null
  private markVerifier: NoConfidenceVerifier | null = null
  /** A node whose own term ended by no-confidence does not campaign before this (ms epoch). */
  private standDownUntil = 0
  /** Verdicts per (node id, ban record content): a ban is not re-verified every tick. */
  private readonly banVerdicts = new BoundedMap<string, { ok: boolean; at: number }>(1000)
  private readonly banWarned = new BoundedSet<string>(1000)
  private readonly unverifiedBans: Counter<'node'>

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly engine: EngineRepository,
    private readonly db: DatabaseRepository,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {
    this.unverifiedBans = new Counter({
      name: 'mpc_unverified_bans_total',
      help: 'Ban records in etcd this node did not honour because their evidence does not verify',
      labelNames: ['node'] as const,
      registers: [metrics.registry],
    })
    this.elector = new LeaderElector(etcd, { nodeId: config.nodeId, apiUrl: config.api.advertisedUrl })
    this.elector.on('change', (c: LeaderChange) => this.onLeaderChange(c))
    etcd.on('sessionLost', () => {
      this.elector.reset()
      this.kick()
    })
  }

  /** Registers and campaigns (waiting up to `waitMs` for etcd), then keeps doing so. */
  async start(waitMs = 10_000): Promise<void> {
    this.running = true
    const deadline = Date.now() + waitMs
    while (Date.now() < deadline && !(await this.tick())) await sleep(500)
    if (!this.etcdHealthy) this.log.error(`etcd unreachable (${this.etcdError}); serving without it and retrying`)
    for (const prefix of [EtcdKeys.nodes, EtcdKeys.leader, EtcdKeys.bans, EtcdKeys.primes]) {
      void this.etcd.watchPrefix(prefix, () => this.kick()).catch((err: unknown) => this.log.debug(`watch ${prefix}: ${errorMessage(err)}`))
    }
    this.loop = this.run()
  }

  /** Leaves the cluster: resigns, revokes the session lease, closes the client. */
  async stop(): Promise<void> {
    this.running = false
    this.abort.abort()
    this.kick()
    await this.loop?.catch(() => undefined)
    if (this.etcd.sessionLeaseId) {
      await this.audit.record('node.left', { nodeId: this.config.nodeId })
      await this.elector.resign().catch(() => undefined)
      await this.etcd.revokeSession()
    }
    await this.etcd.close()
  }

  get isLeader(): boolean {
    return this.elector.isLeader
  }

  /** This node's fencing token while it leads, else null. */
  get leaderTerm(): string | null {
    return this.elector.term
  }

  get leader(): LeaderRecord | null {
    return this.elector.leader
  }

  /** etcd answered within the last few ticks. */
  get etcdHealthy(): boolean {
    return Date.now() - this.lastEtcdOk < 3 * TICK_MS + 3500
  }

  get etcdLastError(): string | null {
    return this.etcdError
  }

  /** Node ids whose session is alive. */
  upNodes(): number[] {
    return [...this.nodes.keys()].sort((a, b) => a - b)
  }

  /** Node ids that are up and report safe primes ready for an aux session (`/tw/primes/<id>`). */
  primesReadyNodes(): number[] {
    return this.upNodes().filter((id) => this.primes.get(id)?.ready === true)
  }

  /** Nodes whose ban this node verified (see {@link setBanVerifier}). */
  bannedNodes(): number[] {
    return [...this.bans.keys()].sort((a, b) => a - b)
  }

  /**
   * Registers how this node checks a ban record. Until one is registered no ban is honoured
   * (and a node named in a ban record does not campaign).
   */
  setBanVerifier(verify: BanVerifier): void {
    this.banVerifier = verify
    this.banVerdicts.clear()
    this.kick()
  }

  /** Registers how this node checks a no-confidence mark; until then no mark is honoured. */
  setNoConfidenceVerifier(verify: NoConfidenceVerifier): void {
    this.markVerifier = verify
  }

  /**
   * Whether this node honours a ban record: its node id matches its key and the registered
   * verifier accepts it. Verdicts are cached per (node id, record content); a ban that does
   * not verify is checked again after a few seconds, and logged (and counted) once.
   */
  async honoursBan(entry: EtcdEntry<BanRecord>): Promise<boolean> {
    const verify = this.banVerifier
    if (!verify) return false
    const id = Number(entry.key.slice(EtcdKeys.bans.length))
    const memo = `${id}\n${canonicalJson(entry.value)}`
    const cached = this.banVerdicts.get(memo)
    if (cached && (cached.ok || Date.now() - cached.at < BAN_RECHECK_MS)) return cached.ok
    let ok: boolean
    try {
      ok = entry.value?.nodeId === id && (await verify(entry))
    } catch (err) {
      this.log.debug(`verifying the ban of node ${id}: ${errorMessage(err)}`)
      return cached?.ok ?? false
    }
    this.banVerdicts.set(memo, { ok, at: Date.now() })
    if (!ok && !this.banWarned.has(memo)) {
      this.banWarned.add(memo)
      this.unverifiedBans.inc({ node: String(id) })
      this.log.warn(`ignoring the ban record of node ${id}: its evidence does not verify (${JSON.stringify(entry.value)})`)
    }
    return ok
  }

  registration(nodeId: number): NodeRegistration | null {
    return this.nodes.get(nodeId)?.value ?? null
  }

  /** Runs one reconciliation now instead of at the next tick. */
  kick(): void {
    this.wake?.()
  }

  async status(): Promise<ClusterStatusDto> {
    let members: EtcdMember[] = []
    if (this.etcdHealthy) members = await this.etcd.members().catch(() => [])
    let dbHealthy = false
    if (this.db.isReady)
      dbHealthy = await this.db.ping(1500).then(
        () => true,
        () => false,
      )
    const nodes: NodeStatusDto[] = []
    for (let id = 1; id <= this.config.clusterSize; id++) {
      const reg = this.nodes.get(id)?.value
      nodes.push({
        nodeId: id,
        up: this.nodes.has(id),
        apiUrl: reg?.apiUrl ?? null,
        quicAddr: reg?.quicAddr ?? null,
        lastSeen: reg ? new Date().toISOString() : null,
        banned: this.bans.has(id),
        primesReady: this.nodes.has(id) && this.primes.get(id)?.ready === true,
      })
    }
    const leader = this.elector.leader
    return {
      nodeId: this.config.nodeId,
      clusterSize: this.config.clusterSize,
      threshold: this.config.threshold,
      leader: leader?.nodeId ?? null,
      leaderTerm: leader?.term ?? null,
      nodes,
      nodesUp: this.nodes.size,
      etcd: { endpoints: this.etcd.endpoints, members, healthy: this.etcdHealthy },
      database: { healthy: dbHealthy },
      bannedNodes: this.bannedNodes(),
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, TICK_MS)
        this.wake = () => {
          clearTimeout(t)
          resolve()
        }
      })
      this.wake = null
      if (this.running) await this.tick()
    }
  }

  /** One reconciliation: session, registration, membership, bans, election. */
  private async tick(): Promise<boolean> {
    try {
      if (!this.etcd.sessionLeaseId) await this.register()
      await this.refreshMembership()
      // Before campaigning: a leader whose term lost confidence stands down first.
      await this.enforceNoConfidence()
      await this.elector.step({ campaign: this.mayCampaign() })
      await this.enforceLeaderBan()
      this.lastEtcdOk = Date.now()
      this.etcdError = null
    } catch (err) {
      this.etcdError = errorMessage(err)
      this.log.debug(`etcd tick failed: ${this.etcdError}`)
    }
    await this.heartbeatDb()
    return this.etcdHealthy
  }

  private async register(): Promise<void> {
    const lease = await this.etcd.startSession()
    const reg: NodeRegistration = {
      nodeId: this.config.nodeId,
      apiUrl: this.config.api.advertisedUrl,
      quicAddr: this.engine.localAddr ?? this.config.quic.listen,
      startedAt: this.startedAt,
    }
    await this.etcd.putEphemeral(EtcdKeys.node(this.config.nodeId), reg)
    this.log.log(`registered in etcd (lease ${lease})`)
    void this.audit.record('node.joined', { ...reg, rejoin: this.registeredOnce })
    this.registeredOnce = true
  }

  private async refreshMembership(): Promise<void> {
    const [entries, bans, primes] = await Promise.all([
      this.etcd.getPrefix<NodeRegistration>(EtcdKeys.nodes),
      this.etcd.getPrefix<BanRecord>(EtcdKeys.bans),
      this.etcd.getPrefix<PrimesRecord>(EtcdKeys.primes),
    ])
    const next = new Map(entries.map((e) => [e.value.nodeId, e]))
    if (this.elector.isLeader) {
      for (const id of next.keys()) if (!this.nodes.has(id)) void this.audit.record('node.seen_up', { nodeId: id })
      for (const id of this.nodes.keys()) if (!next.has(id)) void this.audit.record('node.seen_down', { nodeId: id })
    }
    this.nodes = next
    this.rawBans = new Map(bans.map((b) => [Number(b.key.slice(EtcdKeys.bans.length)), b]))
    const honoured: BanRecord[] = []
    for (const b of bans) if (await this.honoursBan(b)) honoured.push(b.value)
    this.bans = new Map(honoured.map((b) => [b.nodeId, b]))
    this.primes = new Map(primes.map((p) => [p.value.nodeId, p.value]))
    this.metrics.activeNodes.set(next.size)
    await this.syncEngineBans()
  }

  /**
   * A banned node never leads: it does not campaign (nor, before a ban verifier is
   * registered, while any ban record names it).
   */
  private mayCampaign(): boolean {
    const me = this.config.nodeId
    return !this.bans.has(me) && !(this.banVerifier === null && this.rawBans.has(me)) && Date.now() >= this.standDownUntil
  }

  /** Signed no-confidence marks that end a leader's term: a majority of the other nodes (3 of the 4 followers of a 4-of-5 cluster). */
  get noConfidenceQuorum(): number {
    return Math.floor((this.config.clusterSize - 1) / 2) + 1
  }

  /**
   * A leader that keeps its lease but stalls a send loses the lead (issue 13 item 6): each
   * follower that watched an approved send get no attempt, or a signed one not broadcast, for
   * TW_LEADER_STALL_S while the leader was alive writes a signed mark against that term in its
   * own partition (tx-worker `watchLeader`); whoever sees {@link noConfidenceQuorum} valid
   * marks from distinct unbanned followers ends the term like a banned leader's (delete
   * `/tw/leader` only at that create revision) and campaigns. A stall is not provable, so this
   * is never an accusation and nothing else follows from it; the deposed node stands down from
   * campaigning for twice the stall period.
   */
  private async enforceNoConfidence(): Promise<void> {
    const leader = this.elector.leader
    if (!leader) return
    const voters = await this.noConfidenceIn(leader)
    if (voters.length < this.noConfidenceQuorum) return
    const me = this.config.nodeId
    if (leader.nodeId === me) this.standDown()
    if (!(await this.etcd.deleteIfCreateRevision(EtcdKeys.leader, leader.term))) return
    const reason = `no confidence: node(s) ${voters.join(',')} saw it stall a send`
    this.log.warn(
      leader.nodeId === me ? `this node lost the lead (${reason}; term ${leader.term})` : `leader node ${leader.nodeId} lost the lead (${reason}): ended its term ${leader.term}`,
    )
    await this.audit.record('leader.deposed', { nodeId: leader.nodeId, term: leader.term, by: me, reason, marks: voters })
    await this.elector.step({ campaign: this.mayCampaign() })
  }

  /**
   * A banned leader loses the lead: whoever sees the current leader banned (verified) ends
   * that term — deletes `/tw/leader` only if its create revision is still that term, so a
   * newer term is never touched — and campaigns at once (a banned node does not).
   */
  private async enforceLeaderBan(): Promise<void> {
    const leader = this.elector.leader
    const ban = leader ? this.bans.get(leader.nodeId) : undefined
    if (!leader || !ban) return
    const me = this.config.nodeId
    if (!(await this.etcd.deleteIfCreateRevision(EtcdKeys.leader, leader.term))) return
    this.log.warn(
      leader.nodeId === me
        ? `this node is banned (${ban.reason}): resigned the lead (term ${leader.term})`
        : `leader node ${leader.nodeId} is banned (${ban.reason}): ended its term ${leader.term}`,
    )
    await this.audit.record('leader.deposed', { nodeId: leader.nodeId, term: leader.term, by: me, reason: ban.reason })
    await this.elector.step({ campaign: this.mayCampaign() })
  }

  /** The distinct unbanned followers with a valid signed no-confidence mark against `leader`'s term. */
  private async noConfidenceIn(leader: Pick<LeaderRecord, 'nodeId' | 'term'>): Promise<number[]> {
    const verify = this.markVerifier
    if (!verify) return []
    const followers = Array.from({ length: this.config.clusterSize }, (_, i) => i + 1).filter((id) => id !== leader.nodeId && !this.bans.has(id))
    const marks = await Promise.all(followers.map((id) => this.etcd.get<NoConfidenceMark>(WalletKeys.noConfidence(leader.term, id))))
    const voters: number[] = []
    for (const [i, e] of marks.entries()) {
      const m = e?.value
      if (!m || m.nodeId !== followers[i] || m.term !== leader.term || m.leader !== leader.nodeId) continue
      if (await verify(m).catch(() => false)) voters.push(m.nodeId)
    }
    return voters
  }

  /** This node lost its own term to no-confidence: it does not campaign for twice the stall period. */
  private standDown(): void {
    this.standDownUntil = Date.now() + 2 * (this.config.byzantine?.leaderStallS ?? 30) * 1000
  }

  private async syncEngineBans(): Promise<void> {
    if (!this.engine.isStarted) return
    for (const id of this.bans.keys()) {
      if (!this.engineBans.has(id)) {
        await this.engine.ban(id)
        this.engineBans.add(id)
      }
    }
    for (const id of [...this.engineBans]) {
      if (!this.bans.has(id)) {
        this.engine.unban(id)
        this.engineBans.delete(id)
      }
    }
  }

  private async heartbeatDb(): Promise<void> {
    if (!this.db.isReady || Date.now() - this.lastDbHeartbeat < DB_HEARTBEAT_MS) return
    this.lastDbHeartbeat = Date.now()
    await withTimeout(
      this.db.transaction((em) =>
        em.getRepository(NodeStatusEntity).upsert(
          {
            nodeId: this.config.nodeId,
            status: this.running ? 'up' : 'starting',
            apiUrl: this.config.api.advertisedUrl,
            quicAddr: this.engine.localAddr,
            startedAt: new Date(this.startedAt),
            lastSeen: new Date(),
          },
          ['nodeId'],
        ),
      ),
      3000,
      'node_status heartbeat timed out',
    ).catch((err: unknown) => this.log.debug(`node_status heartbeat: ${errorMessage(err)}`))
  }

  private onLeaderChange({ previous, current }: LeaderChange): void {
    const me = this.config.nodeId
    if (current) this.log.log(`leader is node ${current.nodeId} (term ${current.term})`)
    if (current?.nodeId === me && current.leaseId === this.etcd.sessionLeaseId) {
      void this.audit.record('leader.elected', { nodeId: me, term: current.term, previous: previous?.nodeId ?? null })
    } else if (previous?.nodeId === me) {
      void this.audit.record('leader.lost', { nodeId: me, term: previous.term, next: current?.nodeId ?? null })
      // Ended by the others' no-confidence: stand down from campaigning (checked off the tick).
      void this.noConfidenceIn(previous)
        .then((voters) => (voters.length >= this.noConfidenceQuorum ? this.standDown() : undefined))
        .catch(() => undefined)
    }
    this.kick()
  }
}
