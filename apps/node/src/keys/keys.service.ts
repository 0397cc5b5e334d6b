import { Inject, Injectable, Logger } from '@nestjs/common'
import type { KeyDto, KeyListDto, KeyProtocol } from '@tw/api'
import { randomBytes } from 'node:crypto'
import { AuditService } from '../audit/audit.service'
import { sleep } from '../common/async'
import { ClusterUnavailableError, DkgFailedError, NotFoundError } from '../common/errors'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdKeys, EtcdRepository } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { NodeIdentityService } from '../byzantine/identity.service'
import { DkgCoordinatorService } from './dkg-coordinator.service'
import { dkgResults } from './dkg-results'
import { keyIdFor, type DkgRequestRecord, type KeyRecord } from './dkg.types'

/** Outcome of {@link KeysService.create}: done (`201`) or still running (`202`). */
export interface CreateKeyOutcome {
  done: boolean
  key: KeyDto
}

/**
 * Keys as the API sees them. `create` works on any node: it files a request in etcd that
 * the leader turns into a job (see {@link DkgCoordinatorService}) and waits for the key's
 * outcome up to `TW_DKG_TIMEOUT_MS`.
 */
@Injectable()
export class KeysService {
  private readonly log = new Logger('Keys')

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly coordinator: DkgCoordinatorService,
    private readonly audit: AuditService,
    private readonly identity: NodeIdentityService,
  ) {}

  async create(protocol: KeyProtocol, waitMs = this.config.dkgTimeoutMs): Promise<CreateKeyOutcome> {
    this.requireEtcd()
    const up = this.cluster.upNodes().length
    if (up < this.config.clusterSize) {
      throw new ClusterUnavailableError(`key generation needs all ${this.config.clusterSize} nodes; ${up} up`, {
        nodesUp: this.cluster.upNodes(),
      })
    }
    const jobId = `${Date.now().toString(36)}-${randomBytes(5).toString('hex')}`
    const keyId = keyIdFor(protocol, jobId)
    const body: Omit<DkgRequestRecord, 'signature'> = { jobId, protocol, requestedBy: this.config.nodeId, requestedAt: new Date().toISOString() }
    const request: DkgRequestRecord = { ...body, signature: this.identity.sign(body) }
    await this.etcd.putIfAbsent(EtcdKeys.dkgRequest(jobId), request)
    this.log.log(`DKG requested: ${protocol} key ${keyId}`)
    await this.audit.record('dkg.requested', { jobId, keyId, protocol, leader: this.cluster.leader?.nodeId ?? null }, 'api')
    this.coordinator.kick()

    const deadline = Date.now() + waitMs
    for (;;) {
      const key = await this.find(keyId).catch(() => null)
      if (key?.status === 'active') return { done: true, key }
      if (key?.status === 'failed') throw new DkgFailedError(`key generation failed: ${key.error ?? 'unknown'}`, { key })
      if (Date.now() >= deadline) return { done: false, key: key ?? pendingDto(keyId, protocol, request.requestedAt) }
      await sleep(250)
    }
  }

  async list(): Promise<KeyListDto> {
    this.requireEtcd()
    const [keys, requests] = await Promise.all([this.etcd.getPrefix<KeyRecord>(EtcdKeys.keys), this.etcd.getPrefix<DkgRequestRecord>(EtcdKeys.dkgRequests)])
    // Who reported so far matters only while a key is pending (each node's result in its partition).
    const out: KeyDto[] = await Promise.all(keys.map(async (k) => (k.value.status === 'pending' ? toDto(k.value, await this.reportedSoFar(k.value.jobId)) : toDto(k.value))))
    const known = new Set(out.map((k) => k.id))
    for (const { value: r } of requests) {
      const id = keyIdFor(r.protocol, r.jobId)
      if (!known.has(id)) out.push(pendingDto(id, r.protocol, r.requestedAt))
    }
    out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
    return { keys: out }
  }

  async get(keyId: string): Promise<KeyDto> {
    this.requireEtcd()
    const key = await this.find(keyId)
    if (!key) throw new NotFoundError(`no key ${keyId}`)
    return key
  }

  private async find(keyId: string): Promise<KeyDto | null> {
    const rec = (await this.etcd.get<KeyRecord>(EtcdKeys.key(keyId)))?.value
    if (!rec) {
      const m = /^(ecdsa|schnorr)-(.+)$/.exec(keyId)
      const req = m ? (await this.etcd.get<DkgRequestRecord>(EtcdKeys.dkgRequest(m[2])))?.value : undefined
      return req ? pendingDto(keyId, req.protocol, req.requestedAt) : null
    }
    if (rec.status !== 'pending') return toDto(rec)
    return toDto(rec, await this.reportedSoFar(rec.jobId))
  }

  /** The nodes that reported success for DKG job `jobId` so far. */
  private async reportedSoFar(jobId: string): Promise<number[]> {
    return (await dkgResults(this.etcd, jobId, this.config.clusterSize)).filter((r) => r.ok).map((r) => r.nodeId)
  }

  private requireEtcd(): void {
    if (!this.cluster.etcdHealthy) {
      throw new ClusterUnavailableError('etcd unavailable', { dependency: 'etcd', reason: this.cluster.etcdLastError })
    }
  }
}

function toDto(rec: KeyRecord, reportedSoFar?: number[]): KeyDto {
  return {
    id: rec.keyId,
    protocol: rec.protocol,
    status: rec.status,
    publicKey: rec.status === 'active' ? rec.publicKey : null,
    chainCode: rec.status === 'active' ? rec.chainCode : null,
    ...(rec.protocol === 'schnorr' ? { outputKey: rec.status === 'active' ? rec.outputKey : null } : {}),
    reportedBy: rec.status === 'pending' ? (reportedSoFar ?? []) : rec.reportedBy,
    createdAt: rec.createdAt,
    error: rec.error,
  }
}

function pendingDto(id: string, protocol: KeyProtocol, createdAt: string): KeyDto {
  return {
    id,
    protocol,
    status: 'pending',
    publicKey: null,
    chainCode: null,
    ...(protocol === 'schnorr' ? { outputKey: null } : {}),
    reportedBy: [],
    createdAt,
    error: null,
  }
}
