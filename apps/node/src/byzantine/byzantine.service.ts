import { Inject, Injectable, Logger } from '@nestjs/common'
import { isDoubleVote as sharedIsDoubleVote, type UnbanDto, type ViolationDto, type ViolationListDto, type ViolationType } from '@tw/api'
import { createHash } from 'node:crypto'
import { AuditService } from '../audit/audit.service'
import { errorMessage } from '../common/async'
import { BoundedMap, BoundedSet } from '../common/bounded'
import { canonicalJson } from '../common/canonical-json'
import { isSignedBy } from '../common/signed'
import { ConflictError, NotFoundError, ValidationFailedError } from '../common/errors'
import { Reconciler } from '../common/reconciler'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdKeys, EtcdRepository, type EtcdEntry } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { EngineRepository } from '../engine/engine.repository'
import { MetricsService } from '../metrics/metrics.service'
import { DatabaseRepository } from '../persistence/database.repository'
import { ByzantineViolationEntity } from '../persistence/entities'
import { clusterNodeIds, noConfidenceBody, partitionKey, WalletKeys, type SignedVote } from '../wallet/wallet.types'
import { ByzantineKeys, type AccusationPayload, type BanRecordWithEvidence, type SignedAccusation, type UnbanRecord, type ViolationRecord } from './byzantine.types'
import { NodeIdentityService } from './identity.service'

/** Violations and first votes remembered in memory (bounded: older ones are read from etcd again). */
const MEMO_MAX = 50_000

/** Stable id of one piece of misbehaviour: every node that sees it computes the same id. */
export function violationId(type: ViolationType, offender: number, sessionKey: string): string {
  return createHash('sha256').update(`${type}|${offender}|${sessionKey}`).digest('hex').slice(0, 32)
}

/** Whether two signed votes are a double vote by `offender`: same transaction, different content (@tw/api's check, shared with the CLI). */
export const isDoubleVote: (a: SignedVote, b: SignedVote, offender: number) => boolean = sharedIsDoubleVote

/** Distinct valid accusers (never the offender) of one violation. */
export function provenBy(accusers: number[], offender: number, minAccusers: number): { proven: boolean; accusers: number[] } {
  const distinct = [...new Set(accusers.filter((a) => a !== offender))].sort((a, b) => a - b)
  return { proven: distinct.length >= minAccusers, accusers: distinct }
}

/** A check of evidence other nodes can redo themselves (double votes, minority attacks). */
export type EvidenceVerifier = (v: ViolationRecord) => Promise<boolean>

/**
 * Detection, proof and bans (DESIGN §5 "Byzantine detection").
 *
 * A node that sees misbehaviour *accuses*: it creates the violation record (create-if-absent,
 * keyed by a stable id every observer computes alike) and writes its own accusation, signed
 * with its node identity. Evidence that is transferable — two conflicting signed votes, a
 * signed approval of a proposal that breaks the deterministic policy — is re-verified by
 * every other node, which then adds its own signed accusation. Evidence only the participants
 * can see (an invalid signature share, a replayed or wrong-session frame) is accused by each
 * participant that saw it. Every node (not only the leader, which may be the offender) marks
 * a violation **proven** when at least `minAccusers` distinct nodes other than the offender
 * signed an accusation it verified itself, and bans a node at `banThreshold` such violations
 * (reported since its last unban); nobody judges itself. A ban record is honoured only by a
 * node that verifies its evidence the same way (see {@link verifyBan}), so writing one proves
 * nothing. One node's word never bans another; a timeout is never a violation.
 */
@Injectable()
export class ByzantineService {
  private readonly log = new Logger('Byzantine')
  private readonly reconciler = new Reconciler(
    'Byzantine',
    1000,
    () => this.step(),
    () => this.metrics.stepErrors.inc({ loop: 'Byzantine' }),
  )
  private readonly accused = new BoundedSet<string>(MEMO_MAX)
  private readonly verifiers = new Map<ViolationType, EvidenceVerifier>()
  private readonly firstVotes = new BoundedMap<string, SignedVote>(MEMO_MAX)
  private readonly refusalsLogged = new BoundedMap<string, number>(1000)
  /** Mod revisions of unban records that did not verify, already logged and audited. */
  private readonly unverifiedUnbans = new BoundedSet<string>(1000)

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly engine: EngineRepository,
    private readonly identity: NodeIdentityService,
    private readonly db: DatabaseRepository,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {
    this.verifiers.set('double_vote', (v) => this.verifyDoubleVote(v))
  }

  async start(): Promise<void> {
    this.cluster.setBanVerifier((b) => this.verifyBan(b.value as BanRecordWithEvidence))
    // A follower's no-confidence mark counts only when signed by the node it names.
    this.cluster.setNoConfidenceVerifier((m) => (typeof m.signature === 'string' ? this.identity.verify(m.nodeId, noConfidenceBody(m), m.signature) : Promise.resolve(false)))
    await this.etcd.watchPrefix(ByzantineKeys.violations, () => this.reconciler.kick()).catch(() => undefined)
    // Accusations live in each accuser's own partition.
    await this.etcd
      .watchPrefix(WalletKeys.partitions, (key) => {
        if (partitionKey(key)?.kind === 'accusations') this.reconciler.kick()
      })
      .catch(() => undefined)
    this.reconciler.start()
  }

  stop(): Promise<void> {
    return this.reconciler.stop()
  }

  /** Registers how to re-verify a type of transferable evidence (the wallet registers minority attacks). */
  registerVerifier(type: ViolationType, verify: EvidenceVerifier): void {
    this.verifiers.set(type, verify)
  }

  /**
   * Records that this node saw `offender` misbehave. Idempotent: the record is created once,
   * this node's signed accusation once.
   */
  async accuse(type: ViolationType, offender: number, sessionKey: string, evidence: Record<string, unknown>, sessionId: string | null = sessionKey): Promise<void> {
    const me = this.config.nodeId
    if (offender === me || offender < 1 || offender > this.config.clusterSize) return
    const id = violationId(type, offender, sessionKey)
    if (this.accused.has(id)) return
    const record: ViolationRecord = { id, type, offender, sessionId, evidence, reportedBy: me, reportedAt: new Date().toISOString(), status: 'reported', provenAt: null }
    await this.etcd.putIfAbsent(ByzantineKeys.violation(id), record)
    await this.countersign(record)
  }

  /** Writes this node's signed accusation for `v` (once) and records it locally. */
  private async countersign(v: ViolationRecord): Promise<void> {
    const me = this.config.nodeId
    const payload: AccusationPayload = { violationId: v.id, type: v.type, offender: v.offender, sessionId: v.sessionId, accuser: me, at: new Date().toISOString() }
    const created = await this.etcd.putIfAbsent(ByzantineKeys.accusation(v.id, me), { payload, signature: this.identity.sign(payload) } satisfies SignedAccusation)
    this.accused.add(v.id)
    if (!created) return
    this.log.warn(`accusing node ${v.offender} of ${v.type} (${v.sessionId ?? '-'}): violation ${v.id}`)
    this.metrics.byzantineViolations.inc({ type: v.type })
    await this.audit.record('byzantine.accused', { violationId: v.id, type: v.type, offender: v.offender, sessionId: v.sessionId, evidence: v.evidence })
    try {
      await this.db.transaction((em) =>
        em
          .getRepository(ByzantineViolationEntity)
          .insert({ nodeId: me, offenderNodeId: v.offender, type: v.type, sessionId: v.sessionId, evidence: { violationId: v.id, ...v.evidence } }),
      )
    } catch (err) {
      this.log.warn(`recording violation ${v.id} in PostgreSQL failed: ${errorMessage(err)}`)
    }
  }

  /**
   * Every vote this node reads passes through here: the first signed vote seen from a node for
   * a transaction is remembered, and a different validly signed one later is a double vote.
   */
  async observeVote(vote: SignedVote, valid: (v: SignedVote) => Promise<boolean>): Promise<void> {
    const k = `${vote.payload.txId}/${vote.payload.nodeId}`
    const first = this.firstVotes.get(k)
    if (!first) {
      if (await valid(vote)) this.firstVotes.set(k, vote)
      return
    }
    if (canonicalJson(first) === canonicalJson(vote)) return
    if (!isDoubleVote(first, vote, vote.payload.nodeId)) return
    if (!(await this.identity.verify(first.payload.nodeId, first.payload, first.signature))) return
    if (!(await this.identity.verify(vote.payload.nodeId, vote.payload, vote.signature))) return
    await this.accuse('double_vote', vote.payload.nodeId, vote.payload.txId, { txId: vote.payload.txId, first, second: vote })
  }

  /** A refused TLS handshake (expired, not yet valid, foreign-CA or wrong-node certificate): once a minute per peer and reason. */
  private logRefusal(peer: number, detail: string): void {
    const k = `${peer}|${detail.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, '')}`
    const last = this.refusalsLogged.get(k) ?? 0
    if (Date.now() - last < 60_000) return
    this.refusalsLogged.set(k, Date.now())
    this.log.warn(`refused a QUIC connection${peer ? ` from node ${peer}` : ''}: ${detail}`)
  }

  private async verifyDoubleVote(v: ViolationRecord): Promise<boolean> {
    const first = v.evidence.first as SignedVote | undefined
    const second = v.evidence.second as SignedVote | undefined
    if (!first || !second || !isDoubleVote(first, second, v.offender)) return false
    return (await this.identity.verify(v.offender, first.payload, first.signature)) && (await this.identity.verify(v.offender, second.payload, second.signature))
  }

  private async step(): Promise<void> {
    if (!this.engine.isStarted || !this.etcd.sessionLeaseId) return
    // 1. Frames the transport refused as misbehaviour: accuse the authenticated sender.
    for (const e of this.engine.drainEvents()) {
      if (e.reason === 'tls-refused') this.logRefusal(e.peer, e.detail)
      if (!e.violation) continue
      await this.accuse('protocol_violation', e.peer, `${e.reason}:${e.session ?? '-'}`, { reason: e.reason, session: e.session ?? null, detail: e.detail }, e.session ?? null)
    }
    // 2. Transferable evidence others reported: re-verify it ourselves and co-sign.
    for (const { value: v } of await this.etcd.getPrefix<ViolationRecord>(ByzantineKeys.violations)) {
      if (this.accused.has(v.id) || v.offender === this.config.nodeId) continue
      const verify = this.verifiers.get(v.type)
      if (!verify) continue
      if (await this.etcd.get(ByzantineKeys.accusation(v.id, this.config.nodeId))) {
        this.accused.add(v.id)
        continue
      }
      try {
        if (await verify(v)) await this.countersign(v)
      } catch (err) {
        this.log.debug(`verifying violation ${v.id}: ${errorMessage(err)}`)
      }
    }
    // 3. Every node: proofs and bans, from the signed accusations it verifies itself.
    await this.judge()
  }

  /** The accusations of violation `id`: one key per node, each in the accuser's partition. */
  private async accusationsOf(id: string): Promise<EtcdEntry<SignedAccusation>[]> {
    const entries = await Promise.all(clusterNodeIds(this.config.clusterSize).map((n) => this.etcd.get<SignedAccusation>(ByzantineKeys.accusation(id, n))))
    return entries.filter((e): e is EtcdEntry<SignedAccusation> => e !== null)
  }

  /** Every accusation on record: one range read per node's partition. */
  private async allAccusations(): Promise<EtcdEntry<SignedAccusation>[]> {
    const per = await Promise.all(clusterNodeIds(this.config.clusterSize).map((n) => this.etcd.getPrefix<SignedAccusation>(ByzantineKeys.accusationsBy(n))))
    return per.flat()
  }

  /**
   * Distinct accusers whose signed accusation of `v` verifies (payload matches the record,
   * key names the signer). With `since`, only accusations signed after it count.
   */
  private async validAccusers(v: ViolationRecord, accusations: EtcdEntry<SignedAccusation>[], since: string | null = null): Promise<number[]> {
    const out: number[] = []
    for (const e of accusations) {
      const a = e.value
      if (!a?.payload || a.payload.violationId !== v.id || a.payload.offender !== v.offender || a.payload.type !== v.type) continue
      if (e.key !== ByzantineKeys.accusation(v.id, a.payload.accuser)) continue
      if (since !== null && !(typeof a.payload.at === 'string' && a.payload.at > since)) continue
      if (await this.identity.verify(a.payload.accuser, a.payload, a.signature)) out.push(a.payload.accuser)
    }
    return out
  }

  /**
   * Whether `v` counts towards a ban of its offender: reported after the offender's last
   * unban (`since`), and at least `minAccusers` distinct nodes other than the offender signed
   * a valid accusation of it after that unban.
   */
  private async countsForBan(v: ViolationRecord, accusations: EtcdEntry<SignedAccusation>[], since: string | null): Promise<boolean> {
    if (since !== null && !(typeof v.reportedAt === 'string' && v.reportedAt > since)) return false
    return provenBy(await this.validAccusers(v, accusations, since), v.offender, this.config.byzantine.minAccusers).proven
  }

  /**
   * When `nodeId` was last unbanned, from an unban record that verifies (signed by another node
   * than the unbanned one, about that node); `entry` is the record as read, verified or not (the
   * ban write is conditional on it).
   */
  private async unbannedAt(nodeId: number): Promise<{ at: string | null; entry: EtcdEntry<UnbanRecord> | null }> {
    const entry = await this.etcd.get<UnbanRecord>(ByzantineKeys.unban(nodeId))
    if (!entry) return { at: null, entry }
    const unban = entry.value
    const valid =
      unban.nodeId === nodeId &&
      typeof unban.unbannedAt === 'string' &&
      unban.signedBy !== nodeId &&
      (await isSignedBy(unban, unban.signedBy, (id, payload, sig) => this.identity.verify(id, payload, sig)))
    if (!valid) {
      if (!this.unverifiedUnbans.has(entry.modRevision)) {
        this.unverifiedUnbans.add(entry.modRevision)
        this.log.warn(`unban record of node ${nodeId} is not signed by another node: ignored (its violations keep counting)`)
        await this.audit.record('node.unban_refused', { nodeId, by: entry.value.by ?? null, signedBy: entry.value.signedBy ?? null })
      }
      return { at: null, entry }
    }
    return { at: unban.unbannedAt, entry }
  }

  /**
   * This node's check of a ban record (registered with the cluster service, which honours
   * only bans that pass): every violation it lists exists, names the banned node, was
   * reported after the node's last unban and has at least `minAccusers` valid signed
   * accusations from distinct nodes other than the offender (signed after that unban); and
   * it lists at least `banThreshold` of them.
   */
  async verifyBan(ban: BanRecordWithEvidence): Promise<boolean> {
    const ids = Array.isArray(ban?.violations) ? [...new Set(ban.violations)] : []
    if (!Number.isInteger(ban?.nodeId) || ids.length < this.config.byzantine.banThreshold) return false
    const { at: since } = await this.unbannedAt(ban.nodeId)
    for (const id of ids) {
      if (typeof id !== 'string' || !/^[0-9a-f]{32}$/.test(id)) return false
      const v = (await this.etcd.get<ViolationRecord>(ByzantineKeys.violation(id)))?.value
      if (!v || v.id !== id || v.offender !== ban.nodeId) return false
      if (!(await this.countsForBan(v, await this.accusationsOf(id), since))) return false
    }
    return true
  }

  /**
   * Proofs and bans, on every node. A violation with enough valid accusers is marked proven
   * (compare-and-swap on its mod revision: any node may, anyone can check it). A node with
   * `banThreshold` violations that count (see {@link countsForBan}) is banned: create-if-absent
   * of `/tw/bans/<id>` listing them, only while its unban record is as read (so a ban racing an
   * unban is not written with the evidence the unban cleared). Five nodes doing it is
   * harmless: one write wins, and only the writer audits it. A ban record there that this node
   * does not honour (forged, or stale) is replaced by one that verifies.
   */
  private async judge(): Promise<void> {
    const { minAccusers, banThreshold } = this.config.byzantine
    const [entries, accusations, bans] = await Promise.all([
      this.etcd.getPrefix<ViolationRecord>(ByzantineKeys.violations),
      this.allAccusations(),
      this.etcd.getPrefix<BanRecordWithEvidence>(EtcdKeys.bans),
    ])
    const byViolation = new Map<string, EtcdEntry<SignedAccusation>[]>()
    for (const a of accusations) {
      const id = partitionKey(a.key)?.id
      if (id) byViolation.set(id, [...(byViolation.get(id) ?? []), a])
    }
    const unbans = new Map<number, Awaited<ReturnType<ByzantineService['unbannedAt']>>>()
    const counted = new Map<number, ViolationRecord[]>()
    for (const e of entries) {
      const v = e.value
      if (!Number.isInteger(v.offender) || v.offender < 1 || v.offender > this.config.clusterSize) continue
      // The others judge a node (a Byzantine one would not judge itself anyway); it still
      // verifies and honours a ban of itself (no campaigning, no lead).
      if (v.offender === this.config.nodeId) continue
      const mine = byViolation.get(v.id) ?? []
      if (v.status !== 'proven') {
        const { proven, accusers } = provenBy(await this.validAccusers(v, mine), v.offender, minAccusers)
        if (proven && (await this.etcd.atomic({ unchanged: [[e.key, e.modRevision]], puts: [[e.key, { ...v, status: 'proven', provenAt: new Date().toISOString() }]] }))) {
          this.log.warn(`violation ${v.id} (${v.type}) by node ${v.offender} proven by nodes ${accusers.join(',')}`)
          await this.audit.record('byzantine.proven', { violationId: v.id, type: v.type, offender: v.offender, accusers })
        }
      }
      if (!unbans.has(v.offender)) unbans.set(v.offender, await this.unbannedAt(v.offender))
      if (await this.countsForBan(v, mine, unbans.get(v.offender)!.at)) counted.set(v.offender, [...(counted.get(v.offender) ?? []), v])
    }
    for (const [offender, vs] of counted) {
      if (vs.length < banThreshold) continue
      const key = EtcdKeys.ban(offender)
      const existing = bans.find((b) => b.key === key) ?? null
      if (existing && (await this.cluster.honoursBan(existing))) continue
      const unban = unbans.get(offender)!.entry
      const ban: BanRecordWithEvidence = {
        nodeId: offender,
        reason: `${vs.length} proven violation(s): ${[...new Set(vs.map((v) => v.type))].join(', ')}`,
        bannedAt: new Date().toISOString(),
        violations: vs.map((v) => v.id),
      }
      const written = await this.etcd.atomic({
        absent: [...(existing ? [] : [key]), ...(unban ? [] : [ByzantineKeys.unban(offender)])],
        unchanged: [...(existing ? [[key, existing.modRevision] as [string, string]] : []), ...(unban ? [[unban.key, unban.modRevision] as [string, string]] : [])],
        puts: [[key, ban]],
      })
      if (written) {
        this.log.warn(`node ${offender} BANNED: ${ban.reason}${existing ? ' (replacing a ban record that did not verify)' : ''}`)
        await this.audit.record('node.banned', { ...ban, replaced: existing !== null })
        this.cluster.kick()
      }
    }
  }

  async list(): Promise<ViolationListDto> {
    const records = (await this.etcd.getPrefix<ViolationRecord>(ByzantineKeys.violations)).map((e) => e.value)
    const violations: ViolationDto[] = []
    const unbans = new Map<number, string | null>()
    for (const v of records) {
      if (!unbans.has(v.offender)) unbans.set(v.offender, (await this.unbannedAt(v.offender)).at)
      const unbannedAt = unbans.get(v.offender)!
      violations.push({
        id: v.id,
        type: v.type,
        offender: v.offender,
        sessionId: v.sessionId,
        status: unbannedAt !== null && v.reportedAt <= unbannedAt ? 'cleared' : v.status,
        accusers: provenBy(await this.validAccusers(v, await this.accusationsOf(v.id)), v.offender, 1).accusers,
        evidence: v.evidence,
        reportedAt: v.reportedAt,
        provenAt: v.provenAt,
      })
    }
    violations.sort((a, b) => b.reportedAt.localeCompare(a.reportedAt))
    // Only bans this node verifies (a record anyone could have written proves nothing).
    const bans = []
    for (const e of await this.etcd.getPrefix<BanRecordWithEvidence>(EtcdKeys.bans)) {
      if (!(await this.cluster.honoursBan(e))) continue
      bans.push({ nodeId: e.value.nodeId, reason: e.value.reason, bannedAt: e.value.bannedAt, violations: e.value.violations ?? [] })
    }
    return { violations, bans, banThreshold: this.config.byzantine.banThreshold, minAccusers: this.config.byzantine.minAccusers }
  }

  /**
   * Operator action: lifts a ban. Violations reported before now stop counting, so the node is
   * not banned again for the same evidence. The unban record is signed by this node (every node
   * checks it), and a node cannot lift its own ban: ask another node's API. Audited with the
   * caller.
   */
  async unban(nodeId: number, actor: string): Promise<UnbanDto> {
    if (!Number.isInteger(nodeId) || nodeId < 1 || nodeId > this.config.clusterSize) {
      throw new ValidationFailedError(`node id must be 1..${this.config.clusterSize}`)
    }
    if (nodeId === this.config.nodeId) {
      throw new ConflictError(`node ${nodeId} cannot lift its own ban (the others would not count it): unban it through another node's API`)
    }
    const existing = await this.etcd.get(EtcdKeys.ban(nodeId))
    const unbannedAt = new Date().toISOString()
    const body: Omit<UnbanRecord, 'signature'> = { nodeId, unbannedAt, by: actor, signedBy: this.config.nodeId }
    const ok = await this.etcd.atomic({
      unchanged: existing ? [[EtcdKeys.ban(nodeId), existing.modRevision]] : [],
      absent: existing ? [] : [EtcdKeys.ban(nodeId)],
      puts: [[ByzantineKeys.unban(nodeId), { ...body, signature: this.identity.sign(body) } satisfies UnbanRecord]],
      deletes: existing ? [EtcdKeys.ban(nodeId)] : [],
    })
    if (!ok) throw new NotFoundError(`the ban of node ${nodeId} changed while unbanning; retry`)
    await this.audit.record('node.unbanned', { nodeId, wasBanned: existing !== null }, actor)
    this.log.warn(`node ${nodeId} unbanned by ${actor}`)
    this.cluster.kick()
    return { nodeId, wasBanned: existing !== null, unbannedAt }
  }
}
