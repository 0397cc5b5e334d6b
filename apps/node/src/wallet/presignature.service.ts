import { Inject, Injectable, Logger } from '@nestjs/common'
import type { PresignatureJobsDto, PresignatureStatusDto } from '@tw/api'
import { randomUUID } from 'node:crypto'
import { errorMessage } from '../common/async'
import { ClusterUnavailableError, ValidationFailedError } from '../common/errors'
import { Reconciler } from '../common/reconciler'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdRepository } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { EngineRepository } from '../engine/engine.repository'
import { TxStore } from './tx-store'
import { WalletService, type WalletKey } from './wallet.service'
import { pathString, WalletKeys, type PresigRecord } from './wallet.types'

/** Paths the pool should cover, each once, thinnest first. */
export function planPresignatures(targets: number[][], have: Map<string, number>, count: number): number[][] {
  const load = new Map(targets.map((p) => [p.join('/'), have.get(p.join('/')) ?? 0]))
  const plan: number[][] = []
  for (let i = 0; i < count && targets.length > 0; i++) {
    // Thinnest path first; ties by path order so the plan is deterministic.
    const next = [...targets].sort((a, b) => load.get(a.join('/'))! - load.get(b.join('/'))! || a.join('/').localeCompare(b.join('/')))[0]
    plan.push(next)
    load.set(next.join('/'), load.get(next.join('/'))! + 1)
  }
  return plan
}

/**
 * The ECDSA presignature pool. A presignature is bound to its signer set and derivation
 * path at generation (cggmp24), so the pool is planned per (key, path, set): every
 * spendable coin and the next receive and change address should have one ready for the
 * preferred signer set (the four lowest-numbered up, unbanned nodes). Jobs are etcd records
 * (`/tw/presig/<id>`, status generating) that the named signers run; the leader marks them
 * ready or burned and allocates them to spends exactly once.
 */
@Injectable()
export class PresignatureService {
  private readonly log = new Logger('Presignatures')
  private readonly reconciler = new Reconciler('PresigAutofill', 5000, () => this.autofill())

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly wallet: WalletService,
    private readonly engine: EngineRepository,
    private readonly store: TxStore,
  ) {}

  start(): void {
    if (this.config.presignatures.autofill) this.reconciler.start()
  }

  stop(): Promise<void> {
    return this.reconciler.stop()
  }

  /** The four healthiest signers: lowest ids among up, unbanned nodes. */
  preferredSigners(): number[] {
    const banned = new Set(this.cluster.bannedNodes())
    return this.cluster
      .upNodes()
      .filter((id) => !banned.has(id))
      .sort((a, b) => a - b)
      .slice(0, this.config.threshold)
  }

  /** Paths that should have a presignature ready: spendable coins, then the next receive and change addresses. */
  private async targets(key: WalletKey): Promise<{ utxoPaths: number[][]; all: number[][] }> {
    const [utxos, locks, issued] = await Promise.all([this.wallet.confirmedUtxos(key), this.wallet.reservations(), this.wallet.issued(key.keyId)])
    const spendable = utxos.filter((u) => !locks.has(`${u.txid}:${u.vout}`))
    const utxoPaths = spendable.map((u) => u.path)
    const look = this.config.presignatures.lookahead
    const ahead: number[][] = []
    for (let i = 0; i < look; i++) ahead.push([0, issued[0] + i], [1, issued[1] + i])
    const seen = new Set<string>()
    const all = [...utxoPaths, ...ahead].filter((p) => !seen.has(p.join('/')) && seen.add(p.join('/')))
    return { utxoPaths, all }
  }

  private async pool(): Promise<PresigRecord[]> {
    return (await this.store.presignatures()).map((e) => e.value)
  }

  /** Paths (`pathString`) with a ready presignature of `keyId` for the preferred signer set: coin selection prefers their coins. */
  async readyPaths(keyId: string): Promise<Set<string>> {
    const signers = this.preferredSigners().join(',')
    const out = new Set<string>()
    for (const p of await this.pool()) {
      if (p.status === 'ready' && p.keyId === keyId && p.signers.join(',') === signers) out.add(pathString(p.path))
    }
    return out
  }

  /** Queues `count` presignature jobs where coverage is thinnest (for the preferred set). */
  async generate(count: number, requested?: number[]): Promise<PresignatureJobsDto> {
    const key = await this.wallet.key('segwit')
    if (this.engine.isPaused(key.keyId)) {
      throw new ClusterUnavailableError(`key ${key.keyId} is being refreshed: presignatures resume when every node has its new share`)
    }
    const signers = requested ? [...requested].sort((a, b) => a - b) : this.preferredSigners()
    if (requested) {
      const up = new Set(this.cluster.upNodes())
      const banned = new Set(this.cluster.bannedNodes())
      const bad = signers.filter((id) => !up.has(id) || banned.has(id))
      if (signers.length !== this.config.threshold || bad.length > 0) {
        throw new ValidationFailedError(`signers must be ${this.config.threshold} distinct up, unbanned node ids${bad.length ? ` (not available: ${bad.join(',')})` : ''}`)
      }
    }
    if (signers.length < this.config.threshold) {
      throw new ClusterUnavailableError(`only ${signers.length} healthy nodes; presignatures need ${this.config.threshold}`)
    }
    const { all } = await this.targets(key)
    const have = new Map<string, number>()
    for (const p of await this.pool()) {
      if (p.keyId === key.keyId && p.signers.join(',') === signers.join(',') && (p.status === 'ready' || p.status === 'generating')) {
        have.set(p.path.join('/'), (have.get(p.path.join('/')) ?? 0) + 1)
      }
    }
    const queued: PresignatureJobsDto['queued'] = []
    for (const path of planPresignatures(all, have, count)) {
      const id = `ps-${randomUUID()}`
      const record: PresigRecord = {
        id,
        keyId: key.keyId,
        path,
        signers,
        status: 'generating',
        txId: null,
        createdAt: new Date().toISOString(),
        term: this.cluster.leaderTerm ?? '',
      }
      await this.etcd.putIfAbsent(WalletKeys.presig(id), record)
      queued.push({ id, keyId: key.keyId, path: pathString(path), signers })
    }
    return { queued }
  }

  async status(): Promise<PresignatureStatusDto> {
    const key = await this.wallet.findKey('segwit')
    const preferred = this.preferredSigners()
    const pool = (await this.pool()).filter((p) => !key || p.keyId === key.keyId)
    const ready: Record<string, number> = {}
    const count = (s: PresigRecord['status']) => pool.filter((p) => p.status === s).length
    for (const p of pool) if (p.status === 'ready') ready[p.signers.join(',')] = (ready[p.signers.join(',')] ?? 0) + 1
    let coverage = { utxos: 0, covered: 0, ratio: 0 }
    if (key && this.config.chain.url) {
      const { utxoPaths } = await this.targets(key)
      const readyPaths = pool.filter((p) => p.status === 'ready' && p.signers.join(',') === preferred.join(',')).map((p) => p.path.join('/'))
      const covered = utxoPaths.filter((p) => {
        const i = readyPaths.indexOf(p.join('/'))
        if (i < 0) return false
        readyPaths.splice(i, 1)
        return true
      }).length
      coverage = { utxos: utxoPaths.length, covered, ratio: utxoPaths.length ? covered / utxoPaths.length : 1 }
    }
    return { keyId: key?.keyId ?? null, preferredSigners: preferred, ready, generating: count('generating'), used: count('used'), burned: count('burned'), coverage }
  }

  /** Background refill (TW_PRESIG_AUTOFILL): the leader queues one job at a time for an uncovered path. */
  private async autofill(): Promise<void> {
    if (!this.cluster.isLeader) return
    try {
      const key = await this.wallet.findKey('segwit')
      if (!key || this.engine.isPaused(key.keyId)) return // mid-refresh: the signers would refuse
      const pool = await this.pool()
      if (pool.some((p) => p.status === 'generating')) return // one at a time: the CPU is shared with signing
      const signers = this.preferredSigners()
      const { all } = await this.targets(key)
      const readyPaths = new Set(pool.filter((p) => p.keyId === key.keyId && p.status === 'ready' && p.signers.join(',') === signers.join(',')).map((p) => p.path.join('/')))
      if (all.some((p) => !readyPaths.has(p.join('/')))) await this.generate(1)
    } catch (err) {
      this.log.debug(`autofill: ${errorMessage(err)}`)
    }
  }
}
