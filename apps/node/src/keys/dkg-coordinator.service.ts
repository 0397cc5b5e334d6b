import { Inject, Injectable, Logger } from '@nestjs/common'
import { randomBytes } from 'node:crypto'
import { AuditService } from '../audit/audit.service'
import { Reconciler } from '../common/reconciler'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdKeys, EtcdRepository } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { partitionKey, WalletKeys } from '../wallet/wallet.types'
import { auxResults, dkgResults } from './dkg-results'
import { NodeIdentityService } from '../byzantine/identity.service'
import { unsigned } from '../common/signed'
import {
  dkgRequestValid,
  keyIdFor,
  KEYGEN_RESULT_KINDS,
  parseDkgKey,
  type AuxRecord,
  type DkgJobRecord,
  type DkgRequestRecord,
  type DkgResultRecord,
  type KeyRecord,
} from './dkg.types'

/**
 * The leader's half of key generation. Only the leader writes jobs, key status and aux
 * generations, every write fenced on its term, so a deposed leader cannot write.
 *
 * Why requests go through etcd rather than being forwarded over HTTP to the leader: the
 * request survives a leader change (the next leader picks it up), no node needs to reach
 * another's API, and the requesting node simply watches `/tw/keys/<keyId>` for the outcome.
 *
 * Each step, if leading:
 * 1. aux info: once all nodes are up *and report safe primes ready* (`/tw/primes/<id>`, see
 *    {@link auxReadiness}) and no generation exists (or the current one failed somewhere),
 *    start a new one; mark it completed when every node reported success. Waiting for the
 *    primes matters: a node that began generating them when the session started would join
 *    minutes late, after the engine dropped the early messages, and time the session out;
 * 2. requests: turn each into a job plus a `pending` key record in one transaction (ECDSA
 *    waits for an aux generation; every DKG waits until all nodes are up);
 * 3. jobs: when all nodes reported the same public key (each in its own partition
 *    `/tw/n/<id>/dkg-results/<job>`, which only that node may write), the key becomes `active`; any
 *    reported error, or disagreement, makes it `failed`.
 */
@Injectable()
export class DkgCoordinatorService {
  private readonly log = new Logger('DkgCoordinator')
  private readonly reconciler = new Reconciler('DkgCoordinator', 1000, () => this.step())
  private lastAuxWait: string | null = null

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly audit: AuditService,
    private readonly identity: NodeIdentityService,
  ) {}

  async start(): Promise<void> {
    for (const prefix of [EtcdKeys.dkgRequests, EtcdKeys.dkg, EtcdKeys.auxCurrent, EtcdKeys.nodes, EtcdKeys.leader, EtcdKeys.primes]) {
      await this.etcd.watchPrefix(prefix, () => this.reconciler.kick()).catch(() => undefined)
    }
    // Each node's DKG and aux results, in its own partition.
    await this.etcd
      .watchPrefix(WalletKeys.partitions, (key) => {
        if (KEYGEN_RESULT_KINDS.has(partitionKey(key)?.kind ?? '')) this.reconciler.kick()
      })
      .catch(() => undefined)
    this.reconciler.start()
  }

  kick(): void {
    this.reconciler.kick()
  }

  stop(): Promise<void> {
    return this.reconciler.stop()
  }

  private allNodesUp(): boolean {
    return this.cluster.upNodes().length === this.config.clusterSize
  }

  /** Whether a new aux generation may start now; logs (once per change) what it waits for. */
  private readyForAux(): boolean {
    const r = auxReadiness(this.config.clusterSize, this.cluster.upNodes(), this.cluster.primesReadyNodes())
    const wait = r.ready ? null : describeAuxWait(r)
    if (wait !== this.lastAuxWait) {
      if (wait) this.log.log(`aux info waits: ${wait}`)
      this.lastAuxWait = wait
    }
    return r.ready
  }

  private async step(): Promise<void> {
    const term = this.cluster.leaderTerm
    if (!term) return
    const aux = await this.reconcileAux(term)
    await this.reconcileRequests(term, aux)
    await this.reconcileJobs(term)
  }

  private async reconcileAux(term: string): Promise<AuxRecord | null> {
    const current = (await this.etcd.get<AuxRecord>(EtcdKeys.auxCurrent))?.value ?? null
    if (current) {
      const results = await auxResults(this.etcd, current.auxId, this.config.clusterSize)
      const failed = results.filter((r) => !r.ok)
      if (failed.length === 0) {
        if (!current.completedAt && results.length === this.config.clusterSize) {
          const done = this.signAux({ ...unsigned(current), completedAt: new Date().toISOString(), createdBy: this.config.nodeId })
          if (await this.etcd.fencedPut(term, EtcdKeys.auxCurrent, done)) {
            this.log.log(`aux info ${current.auxId} completed on all nodes`)
            await this.audit.record('aux.completed', { auxId: current.auxId })
            return done
          }
        }
        return current
      }
      if (!this.readyForAux()) return current
      await this.audit.record('aux.failed', { auxId: current.auxId, failures: failed })
      this.log.warn(`aux info ${current.auxId} failed on node(s) ${failed.map((f) => f.nodeId).join(',')}; starting a new generation`)
    } else if (!this.readyForAux()) {
      return null
    }
    const generation = (current?.generation ?? 0) + 1
    const next = this.signAux({
      auxId: `aux-${generation}`,
      generation,
      sessionId: `aux-${generation}-${randomBytes(6).toString('hex')}`,
      createdAt: new Date().toISOString(),
      completedAt: null,
      createdBy: this.config.nodeId,
    })
    if (await this.etcd.fencedPut(term, EtcdKeys.auxCurrent, next)) {
      this.log.log(`aux info ${next.auxId} requested (session ${next.sessionId})`)
      await this.audit.record('aux.requested', { auxId: next.auxId, sessionId: next.sessionId, insecureTestPrimes: this.config.insecureTestPrimes })
      return next
    }
    return current
  }

  /** The aux record as this node (the leader) signs it. */
  private signAux(body: Omit<AuxRecord, 'signature'>): AuxRecord {
    return { ...body, signature: this.identity.sign(body) }
  }

  private async reconcileRequests(term: string, aux: AuxRecord | null): Promise<void> {
    const requests = await this.etcd.getPrefix<DkgRequestRecord>(EtcdKeys.dkgRequests)
    for (const { key: requestKey, value: req } of requests) {
      if (!(await dkgRequestValid(req, (id, payload, sig) => this.identity.verify(id, payload, sig))) || requestKey !== EtcdKeys.dkgRequest(req.jobId)) {
        // Not filed by a node's API (written into etcd by something else): no key comes of it.
        this.log.warn(`DKG request ${requestKey} is not signed by the node it names: dropped`)
        await this.audit.record('dkg.request_refused', { key: requestKey, requestedBy: req?.requestedBy ?? null })
        await this.etcd.fencedDelete(term, requestKey)
        continue
      }
      const jobKey = EtcdKeys.dkgJob(req.jobId)
      if (await this.etcd.get(jobKey)) {
        await this.etcd.fencedDelete(term, EtcdKeys.dkgRequest(req.jobId))
        continue
      }
      if (!this.allNodesUp()) continue
      if (req.protocol === 'ecdsa' && !aux) continue
      const body: Omit<DkgJobRecord, 'signature'> = {
        jobId: req.jobId,
        protocol: req.protocol,
        keyId: keyIdFor(req.protocol, req.jobId),
        sessionId: `dkg-${req.jobId}`,
        auxId: req.protocol === 'ecdsa' ? aux!.auxId : null,
        createdAt: new Date().toISOString(),
        createdBy: this.config.nodeId,
        term,
        request: req,
      }
      const job: DkgJobRecord = { ...body, signature: this.identity.sign(body) }
      const key: KeyRecord = {
        keyId: job.keyId,
        jobId: job.jobId,
        protocol: job.protocol,
        status: 'pending',
        publicKey: null,
        chainCode: null,
        outputKey: null,
        reportedBy: [],
        createdAt: req.requestedAt,
        activatedAt: null,
        error: null,
      }
      const created = await this.etcd.fencedTxn(term, {
        absent: [jobKey, EtcdKeys.key(job.keyId)],
        puts: [
          [jobKey, job],
          [EtcdKeys.key(job.keyId), key],
        ],
        deletes: [EtcdKeys.dkgRequest(req.jobId)],
      })
      if (created) {
        this.log.log(`DKG job ${job.jobId} (${job.protocol}) created: key ${job.keyId}, session ${job.sessionId}`)
        await this.audit.record('dkg.started', { jobId: job.jobId, keyId: job.keyId, protocol: job.protocol, sessionId: job.sessionId, auxId: job.auxId })
      }
    }
  }

  private async reconcileJobs(term: string): Promise<void> {
    const jobs = (await this.etcd.getPrefix<DkgJobRecord>(EtcdKeys.dkg)).filter((e) => parseDkgKey(e.key)).map((e) => e.value)
    for (const job of jobs) {
      const keyEntry = await this.etcd.get<KeyRecord>(EtcdKeys.key(job.keyId))
      const key = keyEntry?.value
      if (!key || key.status !== 'pending') continue
      const rs = await dkgResults(this.etcd, job.jobId, this.config.clusterSize)
      const decided = decideKey(key, rs, this.config.clusterSize)
      if (!decided) continue
      if (await this.etcd.fencedPut(term, EtcdKeys.key(job.keyId), decided)) {
        if (decided.status === 'active') {
          this.log.log(`key ${decided.keyId} active: all ${this.config.clusterSize} nodes report ${decided.publicKey}`)
          await this.audit.record('key.activated', {
            keyId: decided.keyId,
            protocol: decided.protocol,
            publicKey: decided.publicKey,
            chainCode: decided.chainCode,
            outputKey: decided.outputKey,
            jobId: job.jobId,
          })
        } else {
          this.log.warn(`key ${decided.keyId} failed: ${decided.error}`)
          await this.audit.record('key.failed', { keyId: decided.keyId, protocol: decided.protocol, jobId: job.jobId, error: decided.error })
        }
      }
    }
  }
}

/** Whether the leader may start an aux info generation, and if not, which nodes it waits for. */
export interface AuxReadiness {
  ready: boolean
  /** Nodes without a live etcd session. */
  down: number[]
  /** Nodes up but not (yet) reporting safe primes ready. */
  primesNotReady: number[]
}

/**
 * Aux info runs with all `n` nodes at once, each consuming one safe-prime set: it may start
 * only when every node 1..n is up and reports primes ready.
 */
export function auxReadiness(n: number, upNodes: readonly number[], primesReadyNodes: readonly number[]): AuxReadiness {
  const up = new Set(upNodes)
  const ready = new Set(primesReadyNodes)
  const down: number[] = []
  const primesNotReady: number[] = []
  for (let id = 1; id <= n; id++) {
    if (!up.has(id)) down.push(id)
    else if (!ready.has(id)) primesNotReady.push(id)
  }
  return { ready: down.length === 0 && primesNotReady.length === 0, down, primesNotReady }
}

function describeAuxWait(r: AuxReadiness): string {
  const parts: string[] = []
  if (r.down.length) parts.push(`node(s) ${r.down.join(',')} not up`)
  if (r.primesNotReady.length) parts.push(`node(s) ${r.primesNotReady.join(',')} still generating safe primes`)
  return parts.join('; ')
}

/**
 * The key's next record given the results so far, or null if it stays pending: active when
 * all `n` nodes report one and the same public key (and chain code / output key), failed on
 * any error or disagreement.
 */
export function decideKey(key: KeyRecord, results: DkgResultRecord[], n: number): KeyRecord | null {
  const errors = results.filter((r): r is Extract<DkgResultRecord, { ok: false }> => !r.ok)
  if (errors.length) {
    return {
      ...key,
      status: 'failed',
      reportedBy: results
        .filter((r) => r.ok)
        .map((r) => r.nodeId)
        .sort((a, b) => a - b),
      error: errors.map((e) => `node ${e.nodeId}: ${e.code}: ${e.error}`).join('; '),
    }
  }
  const oks = results.filter((r): r is Extract<DkgResultRecord, { ok: true }> => r.ok)
  const fingerprints = new Set(oks.map((r) => `${r.publicKey}/${r.chainCode}/${r.outputKey ?? ''}`))
  if (fingerprints.size > 1) {
    return {
      ...key,
      status: 'failed',
      reportedBy: oks.map((r) => r.nodeId).sort((a, b) => a - b),
      error: `nodes disagree on the public key: ${oks.map((r) => `node ${r.nodeId}=${r.publicKey}`).join(', ')}`,
    }
  }
  if (oks.length < n) return null
  const first = oks[0]
  return {
    ...key,
    status: 'active',
    publicKey: first.publicKey,
    chainCode: first.chainCode,
    outputKey: first.outputKey ?? null,
    reportedBy: oks.map((r) => r.nodeId).sort((a, b) => a - b),
    activatedAt: new Date().toISOString(),
    error: null,
  }
}
