import { Inject, Injectable, Logger } from '@nestjs/common'
import { AuditService } from '../audit/audit.service'
import { errorMessage, sleep, writeWithRetry } from '../common/async'
import { Reconciler } from '../common/reconciler'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdKeys, EtcdRepository } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { EngineRepository, engineErrorCode, type KeyShareInfo } from '../engine/engine.repository'
import { PrimePoolService } from '../engine/prime-pool.service'
import { MetricsService } from '../metrics/metrics.service'
import { partitionKey, WalletKeys } from '../wallet/wallet.types'
import { auxResults, dkgResults } from './dkg-results'
import { NodeIdentityService } from '../byzantine/identity.service'
import { BoundedSet } from '../common/bounded'
import { auxFault, dkgJobFault, KEYGEN_RESULT_KINDS, parseDkgKey, type AuxRecord, type AuxResultRecord, type DkgJobRecord, type DkgResultRecord, type KeyRecord } from './dkg.types'
import type { VerifySigned } from '../common/signed'

/**
 * Every node's half of key generation: runs each aux generation and DKG job the leader
 * publishes, once, with the job's session id, and reports its outcome in its own partition
 * (`/tw/n/<id>/dkg-results/<job>`, `/tw/n/<id>/aux-results/<aux>`: no other node may write there).
 *
 * Idempotent across restarts: a job whose result this node already reported is skipped; a
 * key already in the keystore is reported from the keystore without rerunning; a job other
 * nodes already finished (or that failed elsewhere) is not rerun alone (it could only time
 * out) but reported as missed, so the leader fails it cleanly.
 */
@Injectable()
export class DkgWorkerService {
  private readonly log = new Logger('DkgWorker')
  private readonly reconciler = new Reconciler(
    'DkgWorker',
    1000,
    () => this.step(),
    () => this.metrics.stepErrors.inc({ loop: 'DkgWorker' }),
  )
  private readonly running = new Map<string, Promise<void>>()
  private readonly auxRuns = new Map<string, Promise<boolean>>()
  /** Aux records refused (by mod revision), already logged and audited. */
  private readonly refusedAux = new BoundedSet<string>(100)
  private stopped = false
  private readonly verify: VerifySigned = (id, payload, signature) => this.identity.verify(id, payload, signature)

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly engine: EngineRepository,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
    private readonly primes: PrimePoolService,
    private readonly identity: NodeIdentityService,
  ) {}

  async start(): Promise<void> {
    for (const prefix of [EtcdKeys.dkg, EtcdKeys.auxCurrent]) {
      await this.etcd.watchPrefix(prefix, () => this.reconciler.kick()).catch(() => undefined)
    }
    // The other nodes' results (a failure elsewhere ends this node's wait), each in its partition.
    await this.etcd
      .watchPrefix(WalletKeys.partitions, (key) => {
        if (KEYGEN_RESULT_KINDS.has(partitionKey(key)?.kind ?? '')) this.reconciler.kick()
      })
      .catch(() => undefined)
    this.reconciler.start()
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.reconciler.stop()
  }

  /** Aux generations this node holds or is generating, for status pages. */
  auxState(): { running: string[] } {
    return { running: [...this.auxRuns.keys()] }
  }

  private async step(): Promise<void> {
    if (!this.engine.isStarted || !this.etcd.sessionLeaseId) return
    await this.stepAux()
    await this.stepJobs()
  }

  private async stepAux(): Promise<void> {
    const entry = await this.etcd.get<AuxRecord>(EtcdKeys.auxCurrent)
    const aux = entry?.value
    if (!aux || this.auxRuns.has(aux.auxId)) return
    const me = this.config.nodeId
    const results = await auxResults(this.etcd, aux.auxId, this.config.clusterSize)
    if (results.some((r) => r.nodeId === me)) return
    if (this.engine.hasAuxInfo(aux.auxId)) {
      await this.etcd.put(EtcdKeys.auxResult(aux.auxId, me), { nodeId: me, ok: true, reportedAt: new Date().toISOString() })
      return
    }
    if (results.length > 0) {
      await this.reportAux(aux.auxId, false, 'MISSED', 'this node was not running when the session ran')
      return
    }
    // A run consumes one of this node's safe-prime sets: only for a generation a node signed.
    const fault = await auxFault(aux, this.verify)
    if (fault) {
      if (!this.refusedAux.has(entry.modRevision)) {
        this.refusedAux.add(entry.modRevision)
        this.log.warn(`aux info ${aux.auxId} refused: ${fault}`)
        await this.audit.record('aux.refused', { auxId: aux.auxId, reason: fault })
      }
      return
    }
    this.auxRuns.set(aux.auxId, this.runAux(aux))
  }

  private async runAux(aux: AuxRecord): Promise<boolean> {
    const started = Date.now()
    try {
      if (!this.config.insecureTestPrimes && this.engine.primePoolSize() === 0) {
        // The leader waits for every node's /tw/primes/<id> before starting aux info, so this
        // should not happen; if it does, this node joins late and the session may time out.
        this.log.warn(`aux info ${aux.auxId}: no safe primes in the pool; generating now (minutes): the session may time out`)
        await this.primes.ensureOne()
      }
      this.log.log(`aux info ${aux.auxId}: running session ${aux.sessionId}${this.config.insecureTestPrimes ? ' with INSECURE test primes' : ''}`)
      await this.engine.ecdsaAuxInfo(aux.sessionId, aux.auxId)
      this.log.log(`aux info ${aux.auxId} done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      await this.reportAux(aux.auxId, true)
      return true
    } catch (err) {
      this.log.error(`aux info ${aux.auxId} failed: ${engineErrorCode(err) ?? 'ERROR'}: ${errorMessage(err)}`)
      await this.reportAux(aux.auxId, false, engineErrorCode(err) ?? 'INTERNAL', errorMessage(err))
      return false
    } finally {
      this.primes.kick() // the run consumed a prime set: top the pool up again
      this.reconciler.kick()
    }
  }

  private async reportAux(auxId: string, ok: boolean, code?: string, error?: string): Promise<void> {
    const record: AuxResultRecord = { nodeId: this.config.nodeId, ok, code, error, reportedAt: new Date().toISOString() }
    await this.putWithRetry(EtcdKeys.auxResult(auxId, this.config.nodeId), record)
  }

  private async stepJobs(): Promise<void> {
    const jobs = (await this.etcd.getPrefix<DkgJobRecord>(EtcdKeys.dkg)).filter((e) => parseDkgKey(e.key)).map((e) => e.value)
    const me = this.config.nodeId
    // What this node reported already: one range read of its own partition.
    const mineDone = new Set((await this.etcd.getPrefix<DkgResultRecord>(EtcdKeys.dkgResultsBy(me))).map((e) => e.key.slice(EtcdKeys.dkgResultsBy(me).length)))
    for (const job of jobs) {
      if (this.running.has(job.jobId) || mineDone.has(job.jobId)) continue
      const held = this.engine.keyInfo(job.protocol, job.keyId)
      if (held) {
        await this.reportJob(job, { ok: true, ...held })
        continue
      }
      const key = (await this.etcd.get<KeyRecord>(EtcdKeys.key(job.keyId)))?.value
      if (key && key.status !== 'pending') continue
      const rs = await dkgResults(this.etcd, job.jobId, this.config.clusterSize)
      if (rs.some((r) => r.nodeId === me)) continue
      const failedElsewhere = rs.find((r) => !r.ok)
      if (failedElsewhere) {
        await this.reportJob(job, { ok: false, code: 'ABORTED', error: `node ${failedElsewhere.nodeId} failed first` })
        continue
      }
      if (rs.length > 0) {
        await this.reportJob(job, { ok: false, code: 'MISSED', error: 'this node was not running when the session ran' })
        continue
      }
      const fault = await dkgJobFault(job, this.verify)
      if (fault) {
        // Written or rewritten by something that is not a node: this node runs nothing, and its
        // report fails the key cleanly (the leader never activates it).
        this.log.warn(`DKG job ${job.jobId} refused: ${fault}`)
        await this.audit.record('dkg.refused', { jobId: job.jobId, keyId: job.keyId, reason: fault })
        await this.reportJob(job, { ok: false, code: 'BAD_JOB', error: `refused: ${fault}` })
        continue
      }
      const run = this.runJob(job).finally(() => {
        this.running.delete(job.jobId)
        this.reconciler.kick()
      })
      this.running.set(job.jobId, run)
    }
  }

  private async runJob(job: DkgJobRecord): Promise<void> {
    const started = Date.now()
    const timer = this.metrics.dkgDuration.startTimer({ protocol: job.protocol })
    try {
      let info: KeyShareInfo
      if (job.protocol === 'ecdsa') {
        await this.waitForAux(job.auxId!)
        info = await this.engine.ecdsaKeygen(job.sessionId, job.keyId, job.auxId!)
      } else {
        info = await this.engine.frostDkg(job.sessionId, job.keyId)
      }
      timer()
      this.metrics.dkgJobs.inc({ protocol: job.protocol, outcome: 'ok' })
      this.log.log(`DKG ${job.jobId} (${job.protocol}) done in ${Date.now() - started} ms: ${info.publicKey}`)
      await this.audit.record('dkg.completed', { jobId: job.jobId, keyId: job.keyId, protocol: job.protocol, publicKey: info.publicKey })
      await this.reportJob(job, { ok: true, ...info })
    } catch (err) {
      const code = engineErrorCode(err) ?? 'INTERNAL'
      this.metrics.dkgJobs.inc({ protocol: job.protocol, outcome: 'error' })
      this.log.error(`DKG ${job.jobId} (${job.protocol}) failed: ${code}: ${errorMessage(err)}`)
      const culprits = (err as { culprits?: number[] }).culprits ?? []
      await this.audit.record('dkg.failed', { jobId: job.jobId, keyId: job.keyId, protocol: job.protocol, code, error: errorMessage(err), culprits })
      await this.reportJob(job, { ok: false, code, error: errorMessage(err) })
    }
  }

  /** ECDSA keygen needs this node's aux info: waits for the local run (or for it to appear). */
  private async waitForAux(auxId: string): Promise<void> {
    const deadline = Date.now() + Math.max(this.config.dkgTimeoutMs, 15 * 60_000)
    while (!this.stopped) {
      if (this.engine.hasAuxInfo(auxId)) return
      const run = this.auxRuns.get(auxId)
      if (run) {
        if (!(await run)) throw Object.assign(new Error(`aux info ${auxId} failed on this node`), { code: 'AUX_FAILED' })
        continue
      }
      if (Date.now() > deadline) throw Object.assign(new Error(`aux info ${auxId} not available`), { code: 'TIMEOUT' })
      this.reconciler.kick()
      await sleep(500)
    }
    throw Object.assign(new Error('node stopping'), { code: 'ABORTED' })
  }

  private async reportJob(
    job: DkgJobRecord,
    outcome: { ok: true; publicKey: string; chainCode: string; outputKey?: string } | { ok: false; code: string; error: string },
  ): Promise<void> {
    const record = { nodeId: this.config.nodeId, ...outcome, reportedAt: new Date().toISOString() } as DkgResultRecord
    await this.putWithRetry(EtcdKeys.dkgResult(job.jobId, this.config.nodeId), record)
  }

  /** Results must not be lost to a short etcd outage: retry until written or stopping. */
  private putWithRetry(key: string, value: unknown): Promise<void> {
    return writeWithRetry(key, () => this.etcd.put(key, value), { stopped: () => this.stopped, warn: (m) => this.log.warn(m) })
  }
}
