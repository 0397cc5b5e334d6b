import { Inject, Injectable, Logger } from '@nestjs/common'
import type { KeyRefreshDto } from '@tw/api'
import { randomBytes } from 'node:crypto'
import { AuditService } from '../audit/audit.service'
import { errorMessage, writeWithRetry } from '../common/async'
import { isSignedBy, type VerifySigned } from '../common/signed'
import { ClusterUnavailableError, ConflictError, NotFoundError } from '../common/errors'
import { Reconciler } from '../common/reconciler'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdKeys, EtcdRepository } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { EngineRepository, engineErrorCode } from '../engine/engine.repository'
import { PrimePoolService } from '../engine/prime-pool.service'
import { MetricsService } from '../metrics/metrics.service'
import { NodeIdentityService } from '../byzantine/identity.service'
import { clusterNodeIds, partitionKey, WalletKeys, type PresigRecord } from '../wallet/wallet.types'
import { perNode } from './dkg-results'
import type { KeyRecord } from './dkg.types'
import {
  decideRefresh,
  judgeRefresh,
  REFRESH_KINDS,
  RefreshKeys,
  refreshFinished,
  type RefreshCommitRecord,
  type RefreshDecision,
  type RefreshJobRecord,
  type RefreshResultRecord,
  type RefreshVoteRecord,
} from './key-refresh'
import { RefreshVoteLedger } from './refresh-votes'

/** What every node's refresh statement (vote, result, commit) carries. */
type RefreshStatement = { nodeId: number; jobId: string; keyId: string; signature: string }

/** A result states a fingerprint when it reports success. */
const resultWellFormed = (r: RefreshResultRecord): boolean => !r.ok || typeof r.fingerprint === 'string'

/** See {@link KeyRefreshService.stragglerGraceMs}. */
const STRAGGLER_GRACE_MS = 60_000

/**
 * Proactive share refresh (`POST /api/v1/keys/{id}/refresh`, `threshold-wallet keys refresh`):
 * every node gets a new share of the same key. Public keys, chain codes and every address stay;
 * a share from before the refresh (a stolen disk, an old backup) no longer signs.
 *
 * Flow, with no step trusting etcd (key-refresh.ts):
 * 1. The API node files the job `/tw/refresh/<keyId>`, signed by its identity key (one job per
 *    key at a time; an ECDSA job names a fresh aux info generation for the new shares).
 * 2. Every node checks the signature and votes on the job ({@link judgeRefresh}: not filed by a
 *    banned node, a key it holds, not sooner than TW_REFRESH_MIN_INTERVAL_S after the last
 *    refresh of the key it approved), keeping its vote on its own disk before publishing it
 *    signed. One rejection ends the job; nothing is paused while the nodes vote.
 * 3. Once every node approved, each node stops signing and presigning with the key
 *    ({@link EngineRepository.pauseKey}), runs the aux info session (ECDSA) and the refresh
 *    session, keeps the new share *pending* in its keystore and reports a signed result with
 *    the new shares' fingerprint in its own partition.
 * 4. When all nodes' signed results agree, each node on its own makes its pending share live
 *    (the engine also consumes the key's presignatures, made with the old share) and reports a
 *    signed commit carrying those results as evidence, so a node that comes later commits from
 *    the evidence even if a node rewrites its result afterwards. A failure reported by any node
 *    makes every node drop its pending share: the key keeps the shares it had.
 * 5. With every commit in, signing resumes; the leader marks the key's presignature records burned.
 *
 * A job never gives up on a clock: a node that reported success may have switched already.
 */
@Injectable()
export class KeyRefreshService {
  private readonly log = new Logger('KeyRefresh')
  private readonly reconciler = new Reconciler('KeyRefresh', 2000, () => this.step())
  private readonly running = new Map<string, Promise<void>>()
  /** Jobs this node finished handling (done or failed): nothing more to do for them. */
  private readonly settled = new Set<string>()
  /** When this node switched to the new share, per job (a commit before a restart counts as long ago). */
  private readonly committedAt = new Map<string, number>()
  /** How long a node that switched keeps the key paused for the others to switch too. */
  private readonly stragglerGraceMs = STRAGGLER_GRACE_MS
  private stopped = false

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly engine: EngineRepository,
    private readonly identity: NodeIdentityService,
    private readonly audit: AuditService,
    private readonly primes: PrimePoolService,
    private readonly metrics: MetricsService,
    private readonly votes: RefreshVoteLedger,
  ) {}

  async start(): Promise<void> {
    await this.etcd.watchPrefix(RefreshKeys.jobs, () => this.reconciler.kick()).catch(() => undefined)
    await this.etcd
      .watchPrefix(WalletKeys.partitions, (key) => {
        if (REFRESH_KINDS.has(partitionKey(key)?.kind ?? '')) this.reconciler.kick()
      })
      .catch(() => undefined)
    // Before the signing services start: a key mid-refresh is paused from the first moment, so
    // a restarted node never joins a session with a share the others already replaced.
    await this.step().catch((err) => this.log.warn(`first refresh step: ${errorMessage(err)}`))
    this.reconciler.start()
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.reconciler.stop()
  }

  // ------------------------------------------------------------------ API

  /** Files a refresh of `keyId` (any node); 409 while one runs, 503 unless all nodes are up. */
  async request(keyId: string): Promise<KeyRefreshDto> {
    const key = (await this.etcd.get<KeyRecord>(EtcdKeys.key(keyId)))?.value
    if (!key) throw new NotFoundError(`no key ${keyId}`)
    if (key.status !== 'active') throw new ConflictError(`key ${keyId} is ${key.status}: only an active key is refreshed`)
    const up = this.cluster.upNodes().length
    if (up < this.config.clusterSize) {
      throw new ClusterUnavailableError(`a share refresh needs all ${this.config.clusterSize} nodes; ${up} up`, { nodesUp: this.cluster.upNodes() })
    }
    const current = await this.etcd.get<RefreshJobRecord>(RefreshKeys.job(keyId))
    if (current && !refreshFinished(await this.decision(current.value))) {
      throw new ConflictError(`a share refresh of key ${keyId} is running (job ${current.value.jobId})`, { jobId: current.value.jobId })
    }
    // This node will vote on the job too: a job it would reject is refused here, with the reason.
    const mine = this.judge({ keyId, requestedBy: this.config.nodeId, protocol: key.protocol })
    if (!mine.approve) throw new ConflictError(`share refresh of key ${keyId} refused: ${mine.reason}`, { reason: mine.code })
    const jobId = `refresh-${Date.now().toString(36)}-${randomBytes(5).toString('hex')}`
    const ecdsa = key.protocol === 'ecdsa'
    const body: Omit<RefreshJobRecord, 'signature'> = {
      jobId,
      keyId,
      protocol: key.protocol,
      sessionId: `${jobId}.refresh`,
      auxSessionId: ecdsa ? `${jobId}.aux` : null,
      auxId: ecdsa ? `${jobId}-aux` : null,
      requestedBy: this.config.nodeId,
      requestedAt: new Date().toISOString(),
    }
    const job: RefreshJobRecord = { ...body, signature: this.identity.sign(body) }
    const filed = await this.etcd.atomic(
      current
        ? { unchanged: [[RefreshKeys.job(keyId), current.modRevision]], puts: [[RefreshKeys.job(keyId), job]] }
        : { absent: [RefreshKeys.job(keyId)], puts: [[RefreshKeys.job(keyId), job]] },
    )
    if (!filed) throw new ConflictError(`another share refresh of key ${keyId} was filed at the same time`)
    this.log.log(`share refresh of ${keyId} requested: job ${jobId}`)
    await this.audit.record('key.refresh_requested', { keyId, jobId, protocol: key.protocol }, 'api')
    this.reconciler.kick()
    return this.toDto(job, await this.decision(job))
  }

  /** The key's latest refresh job and where it stands; 404 if it was never refreshed. */
  async status(keyId: string): Promise<KeyRefreshDto> {
    const job = (await this.etcd.get<RefreshJobRecord>(RefreshKeys.job(keyId)))?.value
    if (!job) throw new NotFoundError(`key ${keyId} was never refreshed`)
    return this.toDto(job, await this.decision(job))
  }

  private toDto(job: RefreshJobRecord, d: RefreshDecision): KeyRefreshDto {
    const all = clusterNodeIds(this.config.clusterSize)
    return {
      jobId: job.jobId,
      keyId: job.keyId,
      protocol: job.protocol,
      state: d.kind === 'approved' ? 'running' : d.kind === 'commit' ? (d.done ? 'done' : 'committing') : d.kind,
      approvedBy: d.kind === 'voting' ? d.approved : d.kind === 'approved' || d.kind === 'commit' ? all : [],
      reportedBy: d.kind === 'approved' ? d.reported : d.kind === 'commit' ? all : [],
      committedBy: d.kind === 'commit' ? d.committed : [],
      requestedAt: job.requestedAt,
      error: d.kind === 'failed' || d.kind === 'rejected' ? d.reason : null,
    }
  }

  // ------------------------------------------------------------------ every node

  private async step(): Promise<void> {
    try {
      await this.stepJobs()
    } finally {
      this.metrics.keyRefreshPaused.set(this.engine.isStarted ? this.engine.pausedForS() : 0)
    }
  }

  private async stepJobs(): Promise<void> {
    if (!this.engine.isStarted || !this.etcd.sessionLeaseId) return
    const jobs = await this.etcd.getPrefix<RefreshJobRecord>(RefreshKeys.jobs)
    for (const { value: job } of jobs) {
      if (this.settled.has(job.jobId) || this.running.has(job.jobId)) continue
      if (!(await isSignedBy(job, job.requestedBy, this.verify))) {
        this.log.warn(`refresh job for ${job.keyId} is not signed by node ${job.requestedBy}: ignored`)
        continue
      }
      await this.handle(job)
    }
  }

  private async handle(job: RefreshJobRecord): Promise<void> {
    const me = this.config.nodeId
    const d = await this.decision(job)
    if (d.kind === 'voting') {
      // This node's vote counted already (published, signed, an approval): nothing to do.
      if (!d.approved.includes(me)) await this.vote(job)
      return
    }
    if (d.kind === 'rejected') {
      this.log.warn(`share refresh ${job.jobId} of ${job.keyId} rejected (${d.reason}): nothing ran, the key keeps its shares`)
      await this.audit.record('key.refresh_rejected', { keyId: job.keyId, jobId: job.jobId, reason: d.reason })
      this.metrics.keyRefreshes.inc({ protocol: job.protocol, outcome: 'rejected' })
      this.finish(job)
      return
    }
    if (d.kind === 'failed') {
      if (this.engine.discardRefresh(job.keyId)) this.log.warn(`share refresh ${job.jobId} of ${job.keyId} failed (${d.reason}): pending share dropped, the key keeps its shares`)
      await this.audit.record('key.refresh_failed', { keyId: job.keyId, jobId: job.jobId, reason: d.reason })
      this.metrics.keyRefreshes.inc({ protocol: job.protocol, outcome: 'failed' })
      this.finish(job)
      return
    }
    if (d.kind === 'commit') {
      if (!d.committed.includes(me)) {
        this.engine.pauseKey(job.keyId)
        if (await this.commit(job, d.fingerprint, d.results)) {
          this.committedAt.set(job.jobId, Date.now())
          // Every presignature of the key is consumed on this node now: none of them signs again.
          await this.burnPresignatures(job.keyId)
        }
      }
      if (d.done) {
        await this.burnPresignatures(job.keyId)
        this.log.log(`share refresh ${job.jobId} of ${job.keyId} done on all ${this.config.clusterSize} nodes`)
        this.finish(job)
        return
      }
      // This node switched, some have not. Every node that has not is paused (it saw the job
      // before it reported), so resuming here can never mix shares in a session; waiting a
      // little only spares sends the refusals of nodes about to switch. A node that cannot
      // switch (its pending share lost) must not stop the key for good: after the grace the
      // others sign without it, and it refuses every session of the key until it switches.
      const at = d.committed.includes(me) ? (this.committedAt.get(job.jobId) ?? 0) : undefined
      if (at !== undefined && Date.now() - at >= this.stragglerGraceMs) {
        if (this.engine.isPaused(job.keyId)) {
          const missing = clusterNodeIds(this.config.clusterSize).filter((id) => !d.committed.includes(id))
          this.log.warn(`share refresh ${job.jobId} of ${job.keyId}: node(s) ${missing.join(',')} have not switched; signing resumes without them`)
          this.engine.resumeKey(job.keyId)
        }
      } else {
        this.engine.pauseKey(job.keyId)
      }
      return
    }
    this.engine.pauseKey(job.keyId)
    // Every node approved, not every node reported: run it, unless this node reported already
    // or missed it.
    if (d.reported.includes(me)) return
    if (d.reported.length > 0) {
      await this.report(job, { ok: false, fingerprint: null, code: 'MISSED', error: 'this node was not running when the refresh session ran' })
      return
    }
    const run = this.run(job).finally(() => {
      this.running.delete(job.jobId)
      this.reconciler.kick()
    })
    this.running.set(job.jobId, run)
  }

  /** What this node says of a job: its policy (see {@link judgeRefresh}). */
  private judge(job: Pick<RefreshJobRecord, 'keyId' | 'requestedBy' | 'protocol'>) {
    return judgeRefresh({
      job,
      bannedNodes: this.cluster.bannedNodes(),
      holdsKey: this.engine.keyInfo(job.protocol, job.keyId) !== null,
      lastApprovedAt: this.votes.lastApprovedAt(job.keyId),
      now: Date.now(),
      minIntervalS: this.config.refresh.minIntervalS,
    })
  }

  /**
   * Casts this node's one vote on the job: kept on its own disk first, then published signed. A
   * vote already cast (in this life or an earlier one) but missing from etcd is published again
   * byte for byte, never judged again.
   */
  private async vote(job: RefreshJobRecord): Promise<void> {
    let vote = this.votes.get(job.jobId)
    if (!vote) {
      const verdict = this.judge(job)
      const body: Omit<RefreshVoteRecord, 'signature'> = {
        nodeId: this.config.nodeId,
        jobId: job.jobId,
        keyId: job.keyId,
        approve: verdict.approve,
        code: verdict.approve ? null : verdict.code,
        reason: verdict.approve ? null : verdict.reason,
        votedAt: new Date().toISOString(),
      }
      vote = this.votes.record({ ...body, signature: this.identity.sign(body) })
      if (vote.approve) this.log.log(`share refresh ${job.jobId} of ${job.keyId} (filed by node ${job.requestedBy}): approved`)
      else this.log.warn(`share refresh ${job.jobId} of ${job.keyId} (filed by node ${job.requestedBy}): rejected: ${vote.code}: ${vote.reason}`)
      await this.audit.record('key.refresh_voted', { keyId: job.keyId, jobId: job.jobId, approve: vote.approve, code: vote.code })
    }
    await this.putWithRetry(RefreshKeys.vote(job.jobId, this.config.nodeId), vote)
  }

  private finish(job: RefreshJobRecord): void {
    this.engine.resumeKey(job.keyId)
    this.settled.add(job.jobId)
  }

  private async run(job: RefreshJobRecord): Promise<void> {
    const started = Date.now()
    try {
      if (job.protocol === 'ecdsa') {
        if (!this.engine.hasAuxInfo(job.auxId!)) {
          if (!this.config.insecureTestPrimes && this.engine.primePoolSize() === 0) await this.primes.ensureOne()
          await this.engine.ecdsaAuxInfo(job.auxSessionId!, job.auxId!)
          this.primes.kick()
        }
      }
      const fingerprint = await this.engine.refreshKey(job.sessionId, job.keyId, job.auxId)
      this.log.log(`share refresh ${job.jobId} of ${job.keyId}: new share pending (${fingerprint.slice(0, 12)}…) after ${Date.now() - started} ms`)
      await this.report(job, { ok: true, fingerprint, code: null, error: null })
    } catch (err) {
      const code = engineErrorCode(err) ?? (err as { code?: string }).code ?? 'INTERNAL'
      this.log.error(`share refresh ${job.jobId} of ${job.keyId} failed here: ${code}: ${errorMessage(err)}`)
      await this.report(job, { ok: false, fingerprint: null, code, error: errorMessage(err) })
    }
  }

  private async report(job: RefreshJobRecord, outcome: Pick<RefreshResultRecord, 'ok' | 'fingerprint' | 'code' | 'error'>): Promise<void> {
    const body: Omit<RefreshResultRecord, 'signature'> = { nodeId: this.config.nodeId, jobId: job.jobId, keyId: job.keyId, ...outcome, reportedAt: new Date().toISOString() }
    await this.putWithRetry(RefreshKeys.result(job.jobId, this.config.nodeId), { ...body, signature: this.identity.sign(body) })
  }

  /** Makes the pending share live and says so (signed, with the evidence); false if it cannot. */
  private async commit(job: RefreshJobRecord, fingerprint: string, results: RefreshResultRecord[]): Promise<boolean> {
    try {
      this.engine.commitRefresh(job.keyId, fingerprint)
    } catch (err) {
      // Only if this node lost its pending share after reporting it: loud, retried every step,
      // and the key stays paused here (the others go on without this node after the grace).
      this.log.error(`share refresh ${job.jobId} of ${job.keyId}: commit failed: ${engineErrorCode(err) ?? 'ERROR'}: ${errorMessage(err)}`)
      return false
    }
    const body: Omit<RefreshCommitRecord, 'signature'> = {
      nodeId: this.config.nodeId,
      jobId: job.jobId,
      keyId: job.keyId,
      fingerprint,
      committedAt: new Date().toISOString(),
      results,
    }
    await this.putWithRetry(RefreshKeys.commit(job.jobId, this.config.nodeId), { ...body, signature: this.identity.sign(body) })
    this.log.log(`share refresh ${job.jobId} of ${job.keyId}: the refreshed share is live here`)
    await this.audit.record('key.refreshed', { keyId: job.keyId, jobId: job.jobId, fingerprint })
    this.metrics.keyRefreshes.inc({ protocol: job.protocol, outcome: 'switched' })
    return true
  }

  /** The leader marks the key's presignature records burned: every node consumed them at its commit. */
  private async burnPresignatures(keyId: string): Promise<void> {
    const term = this.cluster.leaderTerm
    if (!term) return
    for (const { key, value } of await this.etcd.getPrefix<PresigRecord>(WalletKeys.presigs)) {
      if (value.keyId === keyId && (value.status === 'ready' || value.status === 'generating')) {
        await this.etcd.fencedPut(term, key, { ...value, status: 'burned' })
      }
    }
  }

  // ------------------------------------------------------------------ reading statements

  private readonly verify: VerifySigned = (id, payload, signature) => this.identity.verify(id, payload, signature)

  /** Whether `s` is node `nodeId`'s statement about this job: its node, job and key, signed by it. */
  private async statementValid(job: RefreshJobRecord, nodeId: number, s: RefreshStatement): Promise<boolean> {
    return s.nodeId === nodeId && s.jobId === job.jobId && s.keyId === job.keyId && (await isSignedBy(s, nodeId, this.verify))
  }

  /**
   * Each node's statement in its partition (`keyOf(jobId, node)`) that is well formed and a valid
   * statement of that node about this job (see {@link statementValid}).
   */
  private async statements<T extends RefreshStatement>(job: RefreshJobRecord, keyOf: (jobId: string, nodeId: number) => string, wellFormed: (s: T) => boolean): Promise<T[]> {
    const found = await perNode<T>(this.etcd, (id) => keyOf(job.jobId, id), this.config.clusterSize)
    const valid = await Promise.all(found.map(async (s) => wellFormed(s) && (await this.statementValid(job, s.nodeId, s))))
    return found.filter((_, i) => valid[i])
  }

  /** Node `nodeId`'s signed result for the job, verified (signature, node, job, key, shape). */
  private async resultValid(job: RefreshJobRecord, nodeId: number, r: RefreshResultRecord): Promise<boolean> {
    return resultWellFormed(r) && (await this.statementValid(job, nodeId, r))
  }

  /**
   * Where the job stands from this node's view of the signed statements. A valid commit (its
   * signature, and inside it every node's signed success with one fingerprint) settles the job
   * as committed whatever the results read now: a node that rewrites its result after others
   * switched cannot split the cluster.
   */
  async decision(job: RefreshJobRecord): Promise<RefreshDecision> {
    const n = this.config.clusterSize
    const commits: RefreshCommitRecord[] = []
    let evidence: RefreshResultRecord[] | null = null
    for (const c of await this.statements<RefreshCommitRecord>(job, RefreshKeys.commit, (x) => Array.isArray(x.results))) {
      if (!(await this.evidenceValid(job, c.results, c.fingerprint))) continue
      commits.push(c)
      evidence ??= c.results
    }
    const results = evidence ?? (await this.statements<RefreshResultRecord>(job, RefreshKeys.result, resultWellFormed))
    const votes = results.length === 0 && commits.length === 0 ? await this.statements<RefreshVoteRecord>(job, RefreshKeys.vote, (v) => typeof v.approve === 'boolean') : []
    return decideRefresh(n, votes, results, commits)
  }

  private async evidenceValid(job: RefreshJobRecord, results: RefreshResultRecord[], fingerprint: string): Promise<boolean> {
    const ids = clusterNodeIds(this.config.clusterSize)
    if (results.length !== ids.length) return false
    for (const [i, id] of ids.entries()) {
      const r = results[i]
      if (!r || !r.ok || r.fingerprint !== fingerprint || !(await this.resultValid(job, id, r))) return false
    }
    return true
  }

  /** Statements must not be lost to a short etcd outage: retry until written or stopping. */
  private putWithRetry(key: string, value: unknown): Promise<void> {
    return writeWithRetry(key, () => this.etcd.put(key, value), { stopped: () => this.stopped, warn: (m) => this.log.warn(m) })
  }
}
