import { Inject, Injectable } from '@nestjs/common'
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus'
import { errorMessage, withTimeout } from '../common/async'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdRepository } from '../cluster/etcd.repository'
import { AuditService } from '../audit/audit.service'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { EngineRepository } from '../engine/engine.repository'
import { PrimePoolService } from '../engine/prime-pool.service'
import { DatabaseRepository } from '../persistence/database.repository'
import { CHAIN, type ChainBackend } from '../chain/chain.client'

const TIMEOUT_MS = 2500

/**
 * etcd: the cluster loop reached it recently and it answers a member list now. etcd is the
 * source of truth (locks, votes, leader): without it no send moves, so it fails readiness with
 * `etcd unreachable: <error>, sends paused`.
 */
@Injectable()
export class EtcdHealthIndicator {
  constructor(
    private readonly hi: HealthIndicatorService,
    private readonly cluster: ClusterService,
    private readonly etcd: EtcdRepository,
  ) {}

  async check(): Promise<HealthIndicatorResult<'etcd'>> {
    const s = this.hi.check('etcd')
    try {
      const members = await withTimeout(this.etcd.members(), TIMEOUT_MS, `no answer within ${TIMEOUT_MS} ms`)
      if (!this.cluster.etcdHealthy) return s.down({ message: etcdDown(this.cluster.etcdLastError ?? 'cluster loop not reaching etcd'), members: members.length })
      return s.up({ members: members.length, session: this.etcd.sessionLeaseId !== null })
    } catch (err) {
      return s.down({ message: etcdDown(errorMessage(err)) })
    }
  }
}

const etcdDown = (error: string) => `etcd unreachable: ${error}, sends paused`

/**
 * PostgreSQL: migrated and answering `SELECT 1`. It is a mirror and the audit log, not the
 * source of truth: while it is down sends go on and audit entries wait in this node's spool,
 * so it reports `degraded` (HTTP 200, overall status `degraded`), never `down`;
 * `auditSpooled` counts the entries not yet written.
 */
@Injectable()
export class DatabaseHealthIndicator {
  constructor(
    private readonly hi: HealthIndicatorService,
    private readonly db: DatabaseRepository,
    private readonly audit: AuditService,
  ) {}

  async check(): Promise<HealthIndicatorResult<'database'>> {
    const s = this.hi.check('database')
    try {
      await this.db.ping(TIMEOUT_MS)
      return s.up({ auditSpooled: this.audit.pendingCount })
    } catch (err) {
      const auditSpooled = this.audit.pendingCount
      return s.degraded({
        message: `database unreachable: ${errorMessage(err)}; sends go on; audit entries spooled: ${auditSpooled}`,
        auditSpooled,
      })
    }
  }
}

/** QUIC peers: at least t-1 of them reachable (so this node can be one of t signers). */
@Injectable()
export class PeersHealthIndicator {
  constructor(
    private readonly hi: HealthIndicatorService,
    private readonly engine: EngineRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async check(): Promise<HealthIndicatorResult<'peers'>> {
    const s = this.hi.check('peers')
    const needed = this.config.threshold - 1
    try {
      const probes = await withTimeout(this.engine.probePeers(), TIMEOUT_MS + 1000, 'peer probe timed out')
      const reachable = probes.filter((p) => p.reachable).map((p) => p.nodeId)
      const unreachable = probes.filter((p) => !p.reachable).map((p) => ({ nodeId: p.nodeId, error: p.error ?? null }))
      const data = { reachable, unreachable, needed }
      return reachable.length >= needed ? s.up(data) : s.down(data)
    } catch (err) {
      return s.down({ message: errorMessage(err), needed })
    }
  }
}

/** Keystore: the engine node started, which means its keystore opened and unsealed. */
@Injectable()
export class KeystoreHealthIndicator {
  constructor(
    private readonly hi: HealthIndicatorService,
    private readonly engine: EngineRepository,
  ) {}

  check(): HealthIndicatorResult<'keystore'> {
    const s = this.hi.check('keystore')
    if (!this.engine.isStarted) return s.down({ message: 'engine node not started' })
    const ids = this.engine.keyIds()
    return s.up({ ecdsaKeys: ids.ecdsa.length, frostKeys: ids.frost.length })
  }
}

/**
 * Safe-prime pool for aux info: always `up` (generating primes takes minutes and is normal at
 * start-up, not a fault); `ready`, `poolSize` and `generating` say whether this node could join
 * an aux session now.
 */
@Injectable()
export class PrimePoolHealthIndicator {
  constructor(
    private readonly hi: HealthIndicatorService,
    private readonly primes: PrimePoolService,
  ) {}

  check(): HealthIndicatorResult<'prime_pool'> {
    return this.hi.check('prime_pool').up({ ...this.primes.state() })
  }
}

/** The chain API (Esplora / apps/regtest): answers its tip height. Up and `configured: false` without TW_CHAIN_URL. */
@Injectable()
export class ChainHealthIndicator {
  constructor(
    private readonly hi: HealthIndicatorService,
    @Inject(CHAIN) private readonly chain: ChainBackend | null,
  ) {}

  async check(): Promise<HealthIndicatorResult<'chain'>> {
    const s = this.hi.check('chain')
    if (!this.chain) return s.up({ configured: false })
    try {
      const tipHeight = await withTimeout(this.chain.tipHeight(), TIMEOUT_MS, `no answer within ${TIMEOUT_MS} ms`)
      return s.up({ url: this.chain.url, tipHeight })
    } catch (err) {
      return s.down({ url: this.chain.url, message: errorMessage(err) })
    }
  }
}
