import { Inject, Injectable, Logger } from '@nestjs/common'
import { errorMessage } from '../common/async'
import { Reconciler } from '../common/reconciler'
import { EtcdKeys, EtcdRepository } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { MetricsService } from '../metrics/metrics.service'
import { EngineRepository } from './engine.repository'

/** `/tw/primes/<nodeId>`, under the node's session lease: can this node join an aux session now? */
export interface PrimesRecord {
  nodeId: number
  /** Holds a safe-prime set (or uses the insecure test primes). */
  ready: boolean
  poolSize: number
  generating: boolean
  insecureTestPrimes: boolean
  updatedAt: string
}

/** What `/health` shows under `prime_pool` (informational: never makes the node unhealthy). */
export interface PrimePoolState {
  ready: boolean
  insecureTestPrimes: boolean
  poolSize: number
  target: number
  generating: boolean
  generatingSince: string | null
  lastDurationS: number | null
  lastError: string | null
}

const STEP_MS = 1000
/** After a failed generation, wait this long before trying again. */
const RETRY_AFTER_MS = 30_000

/**
 * Keeps this node's pool of safe primes (CGGMP24 aux info needs one set per run) at
 * `TW_PRIME_POOL_TARGET`, generating in the background (minutes of CPU per set, on the engine's
 * blocking threads) so that a node never starts generating when an aux session begins: the
 * others would be minutes ahead and the session would time out. Publishes readiness under
 * `/tw/primes/<nodeId>` (session lease) so the leader starts aux info only when every node can
 * join at once. With insecure test primes the node is always ready and nothing is generated.
 */
@Injectable()
export class PrimePoolService {
  private readonly log = new Logger('PrimePool')
  private readonly reconciler = new Reconciler(
    'PrimePool',
    STEP_MS,
    () => this.step(),
    () => this.metrics.stepErrors.inc({ loop: 'PrimePool' }),
  )
  private generation: Promise<void> | null = null
  private generatingSince: number | null = null
  private lastDurationS: number | null = null
  private lastError: string | null = null
  private lastFailureAt = 0
  private published: string | null = null
  private stopped = false

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly engine: EngineRepository,
    private readonly etcd: EtcdRepository,
    private readonly metrics: MetricsService,
  ) {}

  /** Starts topping up (in the background: returns at once) and publishing readiness. */
  start(): void {
    this.stopped = false
    this.topUp()
    this.reconciler.start()
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.reconciler.stop()
  }

  /** Re-checks the pool now (e.g. after an aux run consumed a set). */
  kick(): void {
    this.reconciler.kick()
  }

  state(): PrimePoolState {
    const poolSize = this.poolSize()
    return {
      ready: this.isReady(poolSize),
      insecureTestPrimes: this.config.insecureTestPrimes,
      poolSize,
      target: this.config.primePoolTarget,
      generating: this.generation !== null,
      generatingSince: this.generatingSince === null ? null : new Date(this.generatingSince).toISOString(),
      lastDurationS: this.lastDurationS,
      lastError: this.lastError,
    }
  }

  /**
   * Fallback for an aux run that finds the pool empty (the leader should have waited):
   * waits for the background generation, starting one if none is running.
   */
  async ensureOne(): Promise<void> {
    if (this.config.insecureTestPrimes || this.poolSize() >= 1) return
    this.lastFailureAt = 0
    this.topUp(1)
    if (this.generation) await this.generation
    if (this.poolSize() < 1) throw Object.assign(new Error(`no safe primes: ${this.lastError ?? 'generation did not run'}`), { code: 'NO_PRIMES' })
  }

  private isReady(poolSize: number): boolean {
    return this.config.insecureTestPrimes || poolSize >= 1
  }

  private poolSize(): number {
    if (!this.engine.isStarted) return 0
    try {
      return this.engine.primePoolSize()
    } catch {
      return 0
    }
  }

  private topUp(target = this.config.primePoolTarget): void {
    if (this.config.insecureTestPrimes || this.stopped || this.generation || !this.engine.isStarted) return
    if (Date.now() - this.lastFailureAt < RETRY_AFTER_MS) return
    const missing = Math.max(target, 1) - this.poolSize()
    if (missing <= 0) return
    this.generation = this.generate(missing).finally(() => {
      this.generation = null
      this.kick()
    })
  }

  private async generate(count: number): Promise<void> {
    for (let i = 1; i <= count && !this.stopped; i++) {
      const started = Date.now()
      this.generatingSince = started
      this.log.log(`generating safe primes for aux info (set ${i} of ${count}, pool ${this.poolSize()}, target ${this.config.primePoolTarget}); this takes minutes`)
      this.kick()
      try {
        const size = await this.engine.generatePrimes(1)
        this.lastDurationS = Math.round((Date.now() - started) / 100) / 10
        this.lastError = null
        this.metrics.primePoolSize.set(size)
        this.log.log(`safe primes generated in ${this.lastDurationS.toFixed(1)} s; pool now ${size}`)
      } catch (err) {
        if (this.stopped) return
        this.lastError = errorMessage(err)
        this.lastFailureAt = Date.now()
        this.log.error(`safe prime generation failed after ${((Date.now() - started) / 1000).toFixed(1)} s: ${this.lastError}; retrying in ${RETRY_AFTER_MS / 1000} s`)
        return
      } finally {
        this.generatingSince = null
        this.kick()
      }
    }
  }

  private async step(): Promise<void> {
    this.topUp()
    const poolSize = this.poolSize()
    this.metrics.primePoolSize.set(poolSize)
    const leaseId = this.etcd.sessionLeaseId
    if (!leaseId) {
      this.published = null
      return
    }
    const record: PrimesRecord = {
      nodeId: this.config.nodeId,
      ready: this.isReady(poolSize),
      poolSize,
      generating: this.generation !== null,
      insecureTestPrimes: this.config.insecureTestPrimes,
      updatedAt: new Date().toISOString(),
    }
    // Written again only when something changed, or under a new session lease.
    const fingerprint = `${leaseId}/${record.ready}/${record.poolSize}/${record.generating}`
    if (fingerprint === this.published) return
    await this.etcd.putEphemeral(EtcdKeys.prime(this.config.nodeId), record)
    this.published = fingerprint
  }
}
