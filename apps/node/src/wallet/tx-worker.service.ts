import { Inject, Injectable, Logger } from '@nestjs/common'
import { createHash } from 'node:crypto'
import { decisionBody, decisionFault } from '@tw/api'
import { buildUnsignedTransaction, segwitAddress, segwitSighashPreimage, taprootAddress, taprootSigMsg, transactionId } from '@tw/bitcoin'
import { AuditService } from '../audit/audit.service'
import { NodeIdentityService } from '../byzantine/identity.service'
import { ByzantineService } from '../byzantine/byzantine.service'
import type { ViolationRecord } from '../byzantine/byzantine.types'
import { DrillService } from '../byzantine/drill.service'
import { errorMessage, sleep } from '../common/async'
import { BoundedMap, BoundedSet } from '../common/bounded'
import { canonicalJson } from '../common/canonical-json'
import { Reconciler } from '../common/reconciler'
import { withRequestId } from '../common/request-context'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdRepository } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { EngineRepository, engineErrorCode } from '../engine/engine.repository'
import { MetricsService } from '../metrics/metrics.service'
import { DatabaseRepository } from '../persistence/database.repository'
import { VoteEntity, VotingRoundEntity } from '../persistence/entities'
import { ApprovalLedger, type ApprovalEntry } from './approval-ledger'
import { attemptBody, attemptFault } from './leader-decision'
import { resultBody, signaturesValid } from './signing-check'
import { checkProposal, proposalHash, proposerStatement, type ProposalBody, type Verdict } from './policy'
import { mirrorRowId, TxStore } from './tx-store'
import { WalletService } from './wallet.service'
import {
  isSigningRefusal,
  partitionKey,
  TERMINAL_STATES,
  noConfidenceBody,
  WalletKeys,
  type NoConfidenceMark,
  type SigningRefusal,
  type PresigRecord,
  type PresigResult,
  type SignedVote,
  type SigningAttempt,
  type SigningResult,
  type TxDecision,
  type TxRecord,
  type VotePayload,
} from './wallet.types'

/** How long the `delay` and `equivocate-vote` drills wait. */
const DRILL_DELAY_MS = 3000
/** How long the `etcd-tamper` drill leaves a rewritten record in place. */
const TAMPER_HOLD_MS = 15_000
/** Per-transaction memos kept in memory (bounded; the oldest go first). */
const MEMO_MAX = 50_000
/**
 * Steps read only the unfinished transactions and those a watch event named; every this
 * often (and at start) they read them all, in case a watch event was lost.
 */
const FULL_SCAN_MS = 60_000

/**
 * Every node's part in a spend: it votes on each proposal after checking it itself, and
 * contributes to a signing attempt only when it is a named signer, it sees enough valid
 * signed approvals for exactly that proposal, and it computed every sighash itself. It
 * also runs the presignature jobs it is named in.
 *
 * Idempotent across restarts: a vote is create-if-absent; an attempt this node already
 * reported on is not rerun, and one the other signers already finished is reported as
 * missed rather than run alone (it could only time out).
 */
/** Failures that say another transaction spent one of the transaction's inputs. */
const SPENT_BY_ANOTHER = ['INPUTS_SPENT_ELSEWHERE', 'REPLACED', 'REPLACEMENT_REFUSED']

@Injectable()
export class TxWorkerService {
  private readonly log = new Logger('TxWorker')
  private readonly reconciler = new Reconciler(
    'TxWorker',
    1000,
    () => this.step(),
    () => this.metrics.stepErrors.inc({ loop: 'TxWorker' }),
  )
  private readonly running = new Set<string>()
  private presignRunning: string | null = null
  private readonly mirrored = new BoundedMap<string, string>(MEMO_MAX)
  private readonly minorityChecked = new BoundedSet<string>(MEMO_MAX)
  /** Transactions the etcd-tamper drill rewrote already. */
  private readonly tampered = new BoundedSet<string>(1000)
  /** Transactions whose vote key of this node is known to hold its vote (until the watch says it was deleted). */
  private readonly votePublished = new BoundedSet<string>(MEMO_MAX)
  /** Transaction ids named by watch events since the last step. */
  private readonly touched = new Set<string>()
  /** The votes the watch delivered since the last step, per transaction (their double-vote check is due). */
  private readonly votesTouched = new Map<string, SignedVote[]>()
  /** Unfinished transactions at the last step: one that leaves the set is read once more (its final state). */
  private activeIds = new Set<string>()
  private lastFullScan = 0
  /** Verdicts on records' leader decisions, per record content: null when decided, else why not. */
  private readonly decisions = new BoundedMap<string, string | null>(MEMO_MAX)
  /** When this node first saw a transaction in a state the leader could advance, per (transaction, state, revision, term). */
  private readonly stalledSince = new BoundedMap<string, number>(MEMO_MAX)
  /** Terms this node already marked no-confidence. */
  private readonly marked = new BoundedSet<string>(1000)

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly engine: EngineRepository,
    private readonly wallet: WalletService,
    private readonly store: TxStore,
    private readonly db: DatabaseRepository,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
    private readonly identity: NodeIdentityService,
    private readonly byzantine: ByzantineService,
    private readonly drill: DrillService,
    private readonly approvals: ApprovalLedger,
  ) {
    this.byzantine.registerVerifier('minority_attack', (v) => this.verifyMinority(v))
    this.byzantine.registerVerifier('invalid_decision', (v) => this.verifyDecision(v))
    this.byzantine.registerVerifier('invalid_signature', (v) => this.verifyFalseResult(v))
  }

  async start(): Promise<void> {
    await this.identity.start()
    // Record changes through the store's view, so a step never reads a record older than its kick.
    await this.store.onRecord((id) => {
      this.touched.add(id)
      this.reconciler.kick()
    })
    for (const prefix of [WalletKeys.attemptsAll, WalletKeys.presigs]) {
      await this.etcd
        .watchPrefix(prefix, (key) => {
          if (prefix !== WalletKeys.presigs) this.touched.add(key.slice(prefix.length).split('/')[0])
          this.reconciler.kick()
        })
        .catch(() => undefined)
    }
    // Votes (in every node's partition) too: a vote rewritten after its transaction finished
    // (equivocation) must still be seen.
    await this.etcd
      .watchPrefix(WalletKeys.partitions, (key, deleted, entry) => {
        const k = partitionKey(key)
        if (k?.kind !== 'votes') return
        this.touched.add(k.id)
        if (k.nodeId === this.config.nodeId) this.votePublished.delete(k.id) // deleted or rewritten: looked at again
        // The vote itself comes with the event: checked as delivered, not read back five times.
        const v = deleted ? null : (entry()?.value as SignedVote | undefined)
        const due = this.votesTouched.get(k.id) ?? []
        if (v?.payload?.nodeId === k.nodeId) due.push(v)
        this.votesTouched.set(k.id, due)
        this.reconciler.kick()
      })
      .catch(() => undefined)
    this.reconciler.start()
  }

  stop(): Promise<void> {
    return this.reconciler.stop()
  }

  private async step(): Promise<void> {
    if (!this.engine.isStarted || !this.etcd.sessionLeaseId) return
    // Votes are checked for equivocation when they change, and all of them on a full scan
    // (a watch event lost to a reconnect is caught there).
    const votesDue = new Map(this.votesTouched)
    this.votesTouched.clear()
    const { txs, full } = await this.read()
    // Independent transactions are handled side by side (a vote's chain lookups do not hold up a signing).
    // Each transaction's work (and its log lines) under the id of the request that made it.
    await Promise.all(txs.map((tx) => withRequestId(tx.requestId, () => this.handle(tx, full ? 'all' : (votesDue.get(tx.id) ?? null)))))
    await this.maybePresign()
  }

  /** The transactions this step looks at: the unfinished ones and those watch events named (all of them now and then: `full`). */
  private async read(): Promise<{ txs: TxRecord[]; full: boolean }> {
    const touched = [...this.touched]
    this.touched.clear()
    if (Date.now() - this.lastFullScan > FULL_SCAN_MS) {
      // Page by page: the whole prefix in one answer would pass the gRPC response limit.
      const all: TxRecord[] = []
      for await (const page of this.store.pages()) for (const e of page) all.push(e.value)
      this.lastFullScan = Date.now()
      this.activeIds = new Set(all.filter((t) => !TERMINAL_STATES.includes(t.state)).map((t) => t.id))
      return { txs: all, full: true }
    }
    const active = (await this.store.active()).map((e) => e.value)
    const ids = new Set(active.map((t) => t.id))
    const others = [...new Set([...this.activeIds, ...touched])].filter((id) => !ids.has(id))
    this.activeIds = ids
    const finished = await Promise.all(others.map((id) => this.store.latest(id)))
    return { txs: [...active, ...finished.flatMap((e) => (e ? [e.value] : []))], full: false }
  }

  private async handle(tx: TxRecord, checkVotes: SignedVote[] | 'all' | null): Promise<void> {
    try {
      // The vote and the signing are what the spend waits for: they go first, the
      // bookkeeping (mirror, evidence checks) after.
      // Still while approved: the leader waits a moment (VOTE_GRACE_MS) for a late approval
      // that completes a signer set holding presignatures.
      // While signing too, so that a vote key deleted under a running spend is published again.
      if (tx.state === 'voting' || tx.state === 'approved' || (tx.state === 'signing' && this.approvals.get(tx.id))) await this.vote(tx, checkVotes === 'all')
      if (tx.state === 'signing') await this.maybeSign(tx)
      // A state the leader decided counts only with its valid signed decision: this node never
      // treats a transaction as finished (never signs it again, shows it final) on an unsigned,
      // forged or faulty one.
      const refused = await this.decisionVerdict(tx)
      if (!refused && TERMINAL_STATES.includes(tx.state) && (await this.chainAgrees(tx))) this.approvals.markFinished(tx.id, tx.state)
      if (tx.state === 'confirmed' && this.drill.has('etcd-tamper')) void this.tamper(tx)
      if (!refused && this.mirrored.get(tx.id) !== tx.state) {
        this.mirrored.set(tx.id, tx.state)
        void this.store.mirror(tx)
      }
      await this.watchLeader(tx)
      if (checkVotes) await this.watchVotes(tx, checkVotes)
      if (tx.state === 'rejected') await this.checkMinority(tx)
    } catch (err) {
      this.log.warn(`transaction ${tx.id} (${tx.state}): ${errorMessage(err)}`)
    }
  }

  // ------------------------------------------------------------------ Byzantine checks

  /**
   * Every signed vote passes the double-vote check (first one seen vs. any later one): those the
   * watch delivered, or (`all`, on a full scan: an event lost to a reconnect) every vote read.
   */
  private async watchVotes(tx: TxRecord, which: SignedVote[] | 'all'): Promise<void> {
    if (TERMINAL_STATES.includes(tx.state) && Date.now() - Date.parse(tx.updatedAt) > 60_000) return
    for (const v of which === 'all' ? await this.store.votes(tx.id) : which) {
      await this.byzantine.observeVote(v, (x) => this.identity.verify(x.payload.nodeId, x.payload, x.signature))
    }
  }

  /**
   * A rejected proposal: any node that signed an approval although the proposal breaks the
   * deterministic policy (what every honest node computes alike) pushed it as a minority.
   */
  private async checkMinority(tx: TxRecord): Promise<void> {
    if (this.minorityChecked.has(tx.id)) return
    this.minorityChecked.add(tx.id)
    const rules = this.deterministicVerdict(tx)
    if (rules.approve) return
    for (const v of await this.store.votes(tx.id)) {
      if (!v.payload.approve || !(await this.store.voteValid(v, tx))) continue
      await this.byzantine.accuse('minority_attack', v.payload.nodeId, tx.id, { txId: tx.id, proposalHash: tx.proposalHash, broken: rules.reason, vote: v }, tx.id)
    }
  }

  /** The policy checks every honest node computes alike (no chain view, no reservations, no daily total). */
  deterministicVerdict(tx: TxRecord): Verdict {
    try {
      return checkProposal(tx, {
        network: this.config.chain.network,
        policy: this.config.policy,
        scriptAt: (path) => Buffer.from(this.ownScript(tx, path)).toString('hex'),
        utxoExists: () => true,
        lockOf: () => tx.id,
        spentToday: 0,
      })
    } catch (err) {
      return { approve: false, reason: `proposal unreadable: ${errorMessage(err)}` }
    }
  }

  /** Re-verifies a minority-attack accusation made by another node. */
  private async verifyMinority(v: ViolationRecord): Promise<boolean> {
    const txId = v.evidence.txId as string
    const vote = v.evidence.vote as SignedVote | undefined
    const tx = (await this.store.get(txId))?.value
    if (!tx || !vote || vote.payload.nodeId !== v.offender || !vote.payload.approve) return false
    if (!(await this.store.voteValid(vote, tx))) return false
    return !this.deterministicVerdict(tx).approve
  }

  /** Why a signing attempt is a decision no honest leader makes, or null ({@link attemptFault}). */
  private decisionFault(attempt: SigningAttempt): Promise<string | null> {
    return attemptFault(attempt, this.config.threshold, (v) => this.identity.verify(v.payload.nodeId, v.payload, v.signature))
  }

  /** Why a record's signed decision is one no honest leader makes, or null ({@link decisionFault}). */
  private recordDecisionFault(decision: TxDecision): Promise<string | null> {
    return decisionFault(decision, this.config.threshold, this.config.clusterSize, (v) => this.identity.verify(v.payload.nodeId, v.payload, v.signature))
  }

  /**
   * Null when the record's state is decided: voting states need no decision; every later one
   * needs the leader's decision, signed by the node it names, about exactly this record (its
   * id, state, proposal, error and exclusions), from no term newer than the current one and
   * from that term's leader if it is the current term, and not provably faulty (a faulty one is
   * accused: transferable `invalid_decision`). Otherwise why the state is refused (logged and
   * audited once per record content).
   */
  private async decisionVerdict(tx: TxRecord): Promise<string | null> {
    if (tx.state === 'pending' || tx.state === 'voting') return null
    const memo = createHash('sha256').update(canonicalJson(tx)).digest('hex')
    const cached = this.decisions.get(memo)
    if (cached !== undefined) return cached
    const why = await this.decisionProblem(tx)
    this.decisions.set(memo, why)
    if (why) {
      this.log.warn(`transaction ${tx.id}: state ${tx.state} in etcd refused: ${why}`)
      void this.audit.record('tx.decision_refused', { txId: tx.id, state: tx.state, reason: why, leader: tx.decision?.leader ?? null })
    }
    return why
  }

  /**
   * Before this node stops for good on a transaction it approved (its ledger entry is still
   * open), the decisions that rest on the chain are asked of the chain itself: `confirmed`
   * needs the transaction confirmed, INPUTS_SPENT_ELSEWHERE, REPLACED and REPLACEMENT_REFUSED an
   * input spent by another transaction. Not provable to others (the chain's answer is not evidence), so never an
   * accusation; a chain that cannot be asked leaves it open until the next step.
   */
  private async chainAgrees(tx: TxRecord): Promise<boolean> {
    const mine = this.approvals.get(tx.id)
    if (!mine || mine.finished) return true
    const chain = this.wallet.chain()
    try {
      if (tx.state === 'confirmed') {
        const status = tx.txid ? await chain.txStatus(tx.txid) : null
        if (status?.confirmed) return true
      } else if (tx.state === 'failed' && SPENT_BY_ANOTHER.includes(tx.error?.code ?? '')) {
        for (const i of mine.proposal.inputs) {
          const s = await chain.outspend(i.txid, i.vout)
          if (s.spent && s.txid && s.txid !== tx.txid) return true
        }
      } else {
        return true
      }
    } catch (err) {
      this.log.warn(`transaction ${tx.id}: could not ask the chain about its ${tx.state} state: ${errorMessage(err)}; not treated as final yet`)
      return false
    }
    const memo = `${tx.id}|chain|${tx.state}|${tx.updatedAt}`
    if (!this.decisions.has(memo)) {
      this.decisions.set(memo, 'the chain disagrees')
      this.log.warn(`transaction ${tx.id}: its ${tx.state} state (${tx.error?.code ?? tx.txid}) is not what the chain says; not treated as final`)
      void this.audit.record('tx.decision_refused', { txId: tx.id, state: tx.state, reason: 'the chain disagrees', leader: tx.decision?.leader ?? null })
    }
    return false
  }

  private async decisionProblem(tx: TxRecord): Promise<string | null> {
    const d = tx.decision
    if (!d || typeof d.signature !== 'string' || typeof d.leader !== 'number') return 'it carries no signed leader decision'
    if (!(await this.identity.verify(d.leader, decisionBody(d), d.signature))) return `its decision is not signed by node ${d.leader}, the leader it names`
    if (
      d.txId !== tx.id ||
      d.state !== tx.state ||
      d.proposalHash !== tx.proposalHash ||
      canonicalJson(d.error ?? null) !== canonicalJson(tx.error ?? null) ||
      canonicalJson(d.excluded ?? []) !== canonicalJson(tx.excluded ?? [])
    ) {
      return `node ${d.leader}'s signed decision is about another record or state (${d.txId} ${d.state})`
    }
    const fault = await this.recordDecisionFault(d)
    if (fault) {
      await this.byzantine.accuse('invalid_decision', d.leader, `${tx.id}.decision.${d.state}.${d.term}`, { txId: tx.id, decision: d, fault })
      return `node ${d.leader}'s signed ${d.state} decision ${fault}`
    }
    const current = this.cluster.leader
    if (current && /^\d+$/.test(d.term) && /^\d+$/.test(current.term)) {
      if (BigInt(d.term) > BigInt(current.term)) return `its decision names term ${d.term}, newer than the current term ${current.term}`
      if (d.term === current.term && d.leader !== current.nodeId) return `its decision names term ${d.term}, led by node ${current.nodeId}, not node ${d.leader}`
    }
    return null
  }

  /**
   * A leader that keeps its lease but stalls a send it can advance loses the lead (issue 13
   * item 6): while the leader is alive (its key and its registration are there), a
   * transaction that stays `voting`/`approved` with at least `threshold` valid approvals from
   * up, unbanned, not excluded nodes and no attempt, or `signed` and not broadcast while this
   * node can reach the chain, for TW_LEADER_STALL_S as this node's own clock measures it, gets
   * this node's signed no-confidence mark against the term (once per term). A quorum of marks
   * ends the term (cluster.service `enforceNoConfidence`). Never an accusation: a stall is not
   * provable.
   */
  private async watchLeader(tx: TxRecord): Promise<void> {
    const leader = this.cluster.leader
    const me = this.config.nodeId
    if (!leader || leader.nodeId === me || !['voting', 'approved', 'signed'].includes(tx.state)) return
    if (this.marked.has(leader.term) || !this.cluster.upNodes().includes(leader.nodeId)) return
    const memo = `${tx.id}|${tx.state}|${tx.updatedAt}|${tx.attempt}|${leader.term}`
    const first = this.stalledSince.get(memo)
    if (first === undefined) {
      this.stalledSince.set(memo, Date.now())
      if (this.stallMs > 0) return
    } else if (Date.now() - first < this.stallMs) return
    if (!(await this.leaderCouldAdvance(tx))) {
      this.stalledSince.delete(memo)
      return
    }
    const body: NoConfidenceMark = {
      term: leader.term,
      leader: leader.nodeId,
      nodeId: me,
      txId: tx.id,
      state: tx.state,
      reason: tx.state === 'signed' ? 'a signed transaction was not broadcast' : 'an approved send got no signing attempt',
      at: new Date().toISOString(),
    }
    this.marked.add(leader.term)
    const created = await this.etcd.putIfAbsent(WalletKeys.noConfidence(leader.term, me), { ...body, signature: this.identity.sign(noConfidenceBody(body)) })
    if (!created) return
    this.log.warn(`leader node ${leader.nodeId} (term ${leader.term}) stalled ${tx.id} in ${tx.state} for ${this.stallMs / 1000} s: no-confidence mark written`)
    void this.audit.record('leader.no_confidence', { leader: leader.nodeId, term: leader.term, txId: tx.id, state: tx.state, reason: body.reason })
  }

  private get stallMs(): number {
    return (this.config.byzantine?.leaderStallS ?? 30) * 1000
  }

  /** Whether an honest leader would have moved `tx` on by now: a quorum it can sign with, or a chain it can reach. */
  private async leaderCouldAdvance(tx: TxRecord): Promise<boolean> {
    if (tx.state === 'signed') {
      try {
        await this.wallet.chain().tipHash()
        return true
      } catch {
        return false
      }
    }
    const up = new Set(this.cluster.upNodes())
    const banned = new Set(this.cluster.bannedNodes())
    const excluded = new Set(tx.excluded ?? [])
    const approvers = new Set<number>()
    for (const v of await this.store.votes(tx.id)) {
      const id = v.payload.nodeId
      if (!v.payload.approve || !up.has(id) || banned.has(id) || excluded.has(id)) continue
      if (await this.store.voteValid(v, tx)) approvers.add(id)
    }
    return approvers.size >= this.config.threshold
  }

  /** Re-verifies an `invalid_decision` accusation: the offender signed the attempt (or the record's decision), and it is faulty. */
  private async verifyDecision(v: ViolationRecord): Promise<boolean> {
    const decision = v.evidence.decision as TxDecision | undefined
    if (decision) {
      if (decision.leader !== v.offender || typeof decision.signature !== 'string') return false
      if (!(await this.identity.verify(v.offender, decisionBody(decision), decision.signature))) return false
      return (await this.recordDecisionFault(decision)) !== null
    }
    const attempt = v.evidence.attempt as SigningAttempt | undefined
    if (!attempt || attempt.leader !== v.offender || typeof attempt.signature !== 'string') return false
    if (!(await this.identity.verify(v.offender, attemptBody(attempt), attempt.signature))) return false
    return (await this.decisionFault(attempt)) !== null
  }

  /**
   * Re-verifies an accusation that a signer reported signatures that do not verify: its
   * signed result, for the proposal this node voted on, with signatures that fail against
   * this node's own keys. (Accusations a session's participants make from what they saw in
   * the protocol are not transferable: no verifier for those.)
   */
  private async verifyFalseResult(v: ViolationRecord): Promise<boolean> {
    const result = v.evidence.result as SigningResult | undefined
    const proposal = v.evidence.proposal as ProposalBody | undefined
    if (!result?.ok || !proposal || result.nodeId !== v.offender || typeof result.signature !== 'string') return false
    const mine = this.approvals.get(proposal.id)
    if (!mine || result.txId !== proposal.id || result.proposalHash !== mine.proposalHash || proposalHash(proposal) !== mine.proposalHash) return false
    if (!(await this.identity.verify(v.offender, resultBody(result), result.signature))) return false
    return !signaturesValid(mine.proposal, result.signatures, (path) => this.signingKey(mine.proposal, path))
  }

  /** The key that signs an input at `path` (33-byte public key, or x-only output key) and its script, from this node's share. */
  private signingKey(p: Pick<ProposalBody, 'type' | 'keyId'>, path: number[]): { publicKey: Uint8Array; scriptPubKey: Uint8Array } {
    const publicKey = Buffer.from(p.type === 'segwit' ? this.engine.ecdsaPublicKey(p.keyId, path) : this.engine.frostOutputKey(p.keyId, path), 'hex')
    return { publicKey, scriptPubKey: this.ownScript(p, path) }
  }

  // ------------------------------------------------------------------ voting

  /**
   * Casts this node's one vote on `tx`: judged, recorded in the local approval ledger
   * (fsynced), then published create-if-absent. A vote already in the ledger is never cast
   * again: if its etcd key vanished, the same signed bytes are published again. That key is
   * looked at when the watch reports a change of it, and on every full scan (`recheck`: an
   * event lost to a reconnect), not read back on every step.
   */
  private async vote(tx: TxRecord, recheck = false): Promise<void> {
    const me = this.config.nodeId
    if (this.drill.has('drop')) return
    const key = WalletKeys.vote(tx.id, me)
    const mine = this.approvals.get(tx.id)
    if (mine) {
      if (this.votePublished.has(tx.id) && !recheck) return
      // Marked before the read: a deletion reported while it is in flight unmarks it again.
      this.votePublished.add(tx.id)
      try {
        if (!(await this.etcd.get(key)) && (await this.etcd.putIfAbsent(key, mine.vote))) {
          this.log.warn(`my vote on ${tx.id} had vanished from etcd: published the same signed vote again`)
          void this.audit.record('tx.vote_republished', { txId: tx.id, proposalHash: mine.proposalHash })
        }
      } catch (err) {
        this.votePublished.delete(tx.id)
        throw err
      }
      return
    }
    const existing = (await this.etcd.get<SignedVote>(key))?.value
    if (existing) {
      // Cast before this node kept a ledger: adopted when it is ours and about exactly this content.
      if (existing.payload.nodeId === me && existing.payload.proposalHash === proposalHash(tx) && (await this.identity.verify(me, existing.payload, existing.signature))) {
        this.approvals.recordVote(tx, existing)
      }
      return
    }
    if (this.drill.has('delay')) await sleep(DRILL_DELAY_MS)
    const timer = this.metrics.voteDuration.startTimer()
    const verdict: Verdict = this.drill.has('approve-everything') || this.drill.has('equivocate-vote') ? { approve: true, reason: null } : await this.judgeSigned(tx)
    // The hash this node computed itself (the record's field is the proposer's word).
    const payload: VotePayload = { txId: tx.id, proposalHash: proposalHash(tx), nodeId: me, approve: verdict.approve, reason: verdict.reason, votedAt: new Date().toISOString() }
    const signature = this.identity.sign(payload)
    const vote: SignedVote = { payload, signature }
    // Durably on this node's disk before anyone can see it: a crash after this republishes it.
    this.approvals.recordVote(tx, vote)
    const created = await this.etcd.putIfAbsent(key, vote)
    timer()
    if (!created) {
      this.log.warn(`could not publish my vote on ${tx.id}: its key was taken by someone else's write`)
      return
    }
    this.log.log(`voted ${verdict.approve ? 'APPROVE' : `REJECT (${verdict.reason})`} on ${tx.id}`)
    if (this.drill.has('equivocate-vote')) void this.equivocate(tx, payload)
    // Bookkeeping off the spend's path (both writers keep this node's order).
    void this.recordVote(tx, vote)
    void this.audit.record('tx.voted', { txId: tx.id, approve: verdict.approve, reason: verdict.reason, proposalHash: payload.proposalHash })
  }

  /** Drill: after the others have seen our approval, overwrite it with a signed rejection. */
  private async equivocate(tx: TxRecord, first: VotePayload): Promise<void> {
    await sleep(DRILL_DELAY_MS)
    const payload: VotePayload = { ...first, approve: !first.approve, reason: 'drill: equivocation', votedAt: new Date().toISOString() }
    this.log.warn(`DRILL equivocate-vote: overwriting the vote on ${tx.id}`)
    await this.etcd.put(WalletKeys.vote(tx.id, this.config.nodeId), { payload, signature: this.identity.sign(payload) } satisfies SignedVote)
  }

  /**
   * Drill (etcd-tamper): a compromised node uses its etcd access. A finished transaction is
   * rewritten to pay all of its inputs' value to its destination (another transaction under
   * the same id and stored hash), and a new signing attempt for the four other nodes is
   * posted, signed by this node and carrying the genuine approvals. Honest signers refuse it
   * (FINISHED / PROPOSAL_CHANGED: `mpc_signing_refused_total`); the record is put back after
   * {@link TAMPER_HOLD_MS} so the history views stay right.
   */
  private async tamper(tx: TxRecord): Promise<void> {
    if (this.tampered.has(tx.id)) return
    this.tampered.add(tx.id)
    const me = this.config.nodeId
    const key = WalletKeys.tx(tx.id)
    const original = await this.etcd.get<TxRecord>(key)
    if (!original) return
    const signers = Array.from({ length: this.config.clusterSize }, (_, i) => i + 1)
      .filter((id) => id !== me)
      .slice(0, this.config.threshold)
    const approvals = (await this.store.votes(tx.id)).filter((v) => v.payload.approve && signers.includes(v.payload.nodeId))
    const total = tx.inputs.reduce((n, i) => n + i.value, 0)
    const pay = tx.outputs[0]
    const unsignedTx = buildUnsignedTransaction({
      inputs: tx.inputs.map((i) => ({ ...i, scriptPubKey: Buffer.from(i.scriptPubKey, 'hex'), keyType: tx.type })),
      outputs: [{ scriptPubKey: Buffer.from(pay.scriptPubKey, 'hex'), value: total - tx.feeSats }],
      locktime: tx.locktime,
      rbf: true,
    })
    const n = tx.attempt + 1
    const rewritten: TxRecord = { ...tx, amountSats: total - tx.feeSats, outputs: [{ ...pay, value: total - tx.feeSats }], unsignedTx, state: 'signing', attempt: n, signers }
    const body: SigningAttempt = {
      txId: tx.id,
      attempt: n,
      signers,
      mode: tx.type === 'taproot' ? 'frost' : 'full',
      presignatures: tx.inputs.map(() => null),
      createdAt: new Date().toISOString(),
      term: '0',
      proposalHash: tx.proposalHash,
      leader: me,
      approvals,
    }
    this.log.warn(`DRILL etcd-tamper: rewriting finished transaction ${tx.id} to pay ${total - tx.feeSats} sats and posting attempt ${n} for nodes ${signers.join(',')}`)
    try {
      await this.etcd.put(WalletKeys.attempt(tx.id, n), { ...body, signature: this.identity.sign(attemptBody(body)) })
      await this.etcd.put(key, rewritten)
      await sleep(TAMPER_HOLD_MS)
    } finally {
      await this.etcd.put(key, original.value).catch((err) => this.log.warn(`DRILL etcd-tamper: putting ${tx.id} back: ${errorMessage(err)}`))
    }
  }

  /** A proposal no node signed (written straight into etcd) is refused before it is judged. */
  private async judgeSigned(tx: TxRecord): Promise<Verdict> {
    const statement = proposerStatement(proposalHash(tx), tx.proposedBy)
    if (typeof tx.proposerSignature !== 'string' || !(await this.identity.verify(tx.proposedBy, statement, tx.proposerSignature))) {
      return { approve: false, reason: `the proposal is not signed by node ${tx.proposedBy}, its proposer` }
    }
    return this.judge(tx)
  }

  /** This node's own check of the proposal (its key, its chain view, the policy). */
  async judge(tx: TxRecord): Promise<Verdict> {
    try {
      const held = this.engine.keyInfo(tx.type === 'segwit' ? 'ecdsa' : 'schnorr', tx.keyId)
      if (!held) return { approve: false, reason: `this node holds no share of key ${tx.keyId}` }
      const scriptAt = (path: number[]): string => Buffer.from(this.ownScript(tx, path)).toString('hex')
      const chain = this.wallet.chain()
      const unspent = new Set<string>()
      // One chain lookup per distinct address, all at once, alongside the reservations.
      const addresses = [...new Set(tx.inputs.map((inp) => this.ownOutput(tx, inp.path).address))]
      const [found, locks] = await Promise.all([Promise.all(addresses.map((a) => chain.utxos(a))), this.wallet.reservations()])
      for (const u of found.flat()) if (u.confirmed) unspent.add(`${u.txid}:${u.vout}:${u.value}`)
      // A replacement: what this node approved of the transactions it replaces (its ledger, never
      // etcd). Their inputs are spent in the mempool by one of them: still there to replace.
      const replaced = tx.replacement ? this.approvals.approvedChain(tx.replacement.of) : undefined
      if (replaced?.[0]?.finalState === 'confirmed') return { approve: false, reason: `transaction ${tx.replacement?.of} is confirmed: nothing to replace` }
      if (replaced?.length) {
        const theirs = new Set(replaced.map((e) => transactionId(e.proposal.unsignedTx)))
        const spends = await Promise.all(tx.inputs.map((i) => chain.outspend(i.txid, i.vout)))
        tx.inputs.forEach((i, n) => {
          const s = spends[n]
          if (s.spent && !s.confirmed && s.txid && theirs.has(s.txid)) unspent.add(`${i.txid}:${i.vout}:${replaced[0].proposal.inputs[n]?.value}`)
        })
      }
      // What this node itself approved in the last 24 h (its ledger; nothing in etcd lowers it).
      const spentToday = this.approvals.approvedSince(Date.now() - 24 * 3600_000, tx.id)
      return checkProposal(tx, {
        network: this.config.chain.network,
        policy: this.config.policy,
        scriptAt,
        utxoExists: (txid, vout, value) => unspent.has(`${txid}:${vout}:${value}`),
        lockOf: (txid, vout) => locks.get(`${txid}:${vout}`),
        spentToday,
        replaced: replaced?.map((e) => e.proposal),
      })
    } catch (err) {
      return { approve: false, reason: `could not check the proposal: ${errorMessage(err)}` }
    }
  }

  /** The wallet's address and output script at `path`, from this node's own key share (not the proposer's word). */
  private ownOutput(tx: Pick<ProposalBody, 'type' | 'keyId'>, path: number[]): { address: string; scriptPubKey: Uint8Array } {
    return tx.type === 'segwit'
      ? segwitAddress(Buffer.from(this.engine.ecdsaPublicKey(tx.keyId, path), 'hex'), this.config.chain.network)
      : taprootAddress(Buffer.from(this.engine.frostOutputKey(tx.keyId, path), 'hex'), this.config.chain.network)
  }

  private ownScript(tx: Pick<ProposalBody, 'type' | 'keyId'>, path: number[]): Uint8Array {
    return this.ownOutput(tx, path).scriptPubKey
  }

  /** This node's voting round row (its mirror of the transaction must exist: it is written first). */
  private async recordVote(tx: TxRecord, vote: SignedVote): Promise<void> {
    const roundId = mirrorRowId(`${tx.id}/round/1`, this.config.nodeId)
    try {
      await this.store.mirror(tx)
      await this.db.transaction(async (em) => {
        await em
          .createQueryBuilder()
          .insert()
          .into(VotingRoundEntity)
          .values({ id: roundId, transactionId: mirrorRowId(tx.id, this.config.nodeId), round: 1, proposerNodeId: tx.proposedBy, status: 'open' })
          .orIgnore()
          .execute()
        await em
          .createQueryBuilder()
          .insert()
          .into(VoteEntity)
          .values({
            votingRoundId: roundId,
            voterNodeId: vote.payload.nodeId,
            approve: vote.payload.approve,
            reason: vote.payload.reason,
            payload: canonicalJson(vote.payload),
            signature: vote.signature,
          })
          .orIgnore()
          .execute()
      })
    } catch (err) {
      this.log.warn(`recording vote on ${tx.id} in PostgreSQL failed: ${errorMessage(err)}`)
    }
  }

  // ------------------------------------------------------------------ signing

  private async maybeSign(tx: TxRecord): Promise<void> {
    const me = this.config.nodeId
    if (this.drill.has('drop')) return
    const attempt = (await this.etcd.get<SigningAttempt>(WalletKeys.attempt(tx.id, tx.attempt)))?.value
    if (!attempt || !attempt.signers.includes(me)) return
    const runKey = `${tx.id}/${attempt.attempt}`
    if (this.running.has(runKey)) return
    const results = await this.store.results(tx.id, attempt.attempt, attempt.signers)
    if (results.some((r) => r.nodeId === me)) return
    if (results.length > 0 && results.every((r) => r.ok)) {
      // Everyone else finished without us: the session is over; running alone could only time out.
      await this.report(tx.id, attempt.attempt, {
        nodeId: me,
        ok: false,
        code: 'MISSED',
        error: 'this node was not running when the session ran',
        culprits: [],
        reportedAt: new Date().toISOString(),
      })
      return
    }
    this.running.add(runKey)
    void this.sign(tx, attempt).finally(() => {
      this.running.delete(runKey)
      this.reconciler.kick()
    })
  }

  private async sign(tx: TxRecord, attempt: SigningAttempt): Promise<void> {
    const me = this.config.nodeId
    const started = Date.now()
    let result: SigningResult
    try {
      if (this.drill.has('delay')) await sleep(DRILL_DELAY_MS)
      const approved = await this.checkSigning(tx, attempt)
      // Durably before the session starts: after a restart mid-session this node reports the
      // attempt missed instead of rejoining it with a new protocol state.
      if (!this.approvals.startAttempt(tx.id, attempt.attempt)) {
        throw Object.assign(new Error(`this node already started attempt ${attempt.attempt} before a restart; it does not rejoin it`), { code: 'RESTARTED' })
      }
      // Everything signed comes from this node's own approved copy, never from the etcd record.
      const p = approved.proposal
      const signatures: string[] = []
      const prevouts = p.inputs.map((i) => ({ scriptPubKey: this.ownScript(p, i.path), value: i.value }))
      for (const [i, input] of p.inputs.entries()) {
        const session = `${p.id}.${attempt.attempt}.${i}`
        if (p.type === 'taproot') {
          const sigMsg = taprootSigMsg(p.unsignedTx, i, prevouts)
          signatures.push(await this.engine.frostSign(session, p.keyId, attempt.signers, input.path, sigMsg))
        } else {
          const pub = Buffer.from(this.engine.ecdsaPublicKey(p.keyId, input.path), 'hex')
          const preimage = segwitSighashPreimage(p.unsignedTx, i, pub, input.value)
          const presig = attempt.presignatures[i]
          signatures.push(
            presig
              ? await this.engine.ecdsaSignWithPresignature(session, p.keyId, presig, preimage)
              : await this.engine.ecdsaSign(session, p.keyId, attempt.signers, input.path, preimage),
          )
        }
      }
      const mode = p.type === 'taproot' ? 'frost' : attempt.presignatures.every(Boolean) ? 'presignature' : 'full'
      this.metrics.signatureDuration.observe({ protocol: p.type === 'taproot' ? 'frost' : 'ecdsa', mode }, (Date.now() - started) / 1000 / p.inputs.length)
      this.log.log(`signed ${tx.id} attempt ${attempt.attempt} (${p.inputs.length} input(s), ${mode}) in ${Date.now() - started} ms`)
      result = { nodeId: me, ok: true, signatures, reportedAt: new Date().toISOString() }
    } catch (err) {
      const code = engineErrorCode(err) ?? (err as { code?: string }).code ?? 'INTERNAL'
      const culprits = (err as { culprits?: number[] }).culprits ?? []
      this.log.warn(`signing ${tx.id} attempt ${attempt.attempt} failed: ${code}: ${errorMessage(err)}${culprits.length ? ` (culprits ${culprits.join(',')})` : ''}`)
      result = { nodeId: me, ok: false, code, error: errorMessage(err), culprits, reportedAt: new Date().toISOString() }
      if (isSigningRefusal(code)) {
        this.metrics.signingRefused.inc({ code })
        void this.audit.record('tx.sign_refused', { txId: tx.id, attempt: attempt.attempt, code, error: errorMessage(err) })
      }
      // A timeout names who was silent: a fault, never a violation. Misbehaviour is accused.
      if (code === 'PEER_MISBEHAVED') {
        const session = `${tx.id}.${attempt.attempt}`
        for (const culprit of culprits) {
          await this.byzantine.accuse('invalid_signature', culprit, session, {
            txId: tx.id,
            attempt: attempt.attempt,
            protocol: tx.type === 'taproot' ? 'frost' : 'ecdsa',
            signers: attempt.signers,
            error: errorMessage(err),
          })
        }
      }
    }
    void this.audit.record('tx.signed_share', { txId: tx.id, attempt: attempt.attempt, ok: result.ok, ...(result.ok ? {} : { code: result.code, culprits: result.culprits }) })
    await this.report(tx.id, attempt.attempt, result)
  }

  /**
   * What this node signs, or why it refuses (DESIGN §5 trust model): only a proposal it
   * approved itself (its local ledger), unchanged in etcd, not seen finished, with at least
   * `threshold` valid signed approvals of exactly that proposal hash (its own included).
   * Returns its ledger entry: every sighash is computed from that copy.
   */
  private async checkSigning(tx: TxRecord, attempt: SigningAttempt): Promise<ApprovalEntry> {
    const refuse = (code: SigningRefusal, message: string) => Object.assign(new Error(message), { code })
    // The leader's decision first: signed by it, and carrying the quorum it was decided on. A
    // faulty one is evidence against its signer whatever else is wrong with the attempt.
    const leader = attempt.leader
    if (typeof leader !== 'number' || typeof attempt.signature !== 'string' || !(await this.identity.verify(leader, attemptBody(attempt), attempt.signature))) {
      throw refuse('BAD_ATTEMPT', 'the signing attempt is not signed by the node it names as leader')
    }
    const fault = await this.decisionFault(attempt)
    if (fault) {
      await this.byzantine.accuse('invalid_decision', leader, `${attempt.txId}.${attempt.attempt}`, { txId: attempt.txId, attempt, fault })
      throw refuse('BAD_ATTEMPT', `node ${leader}'s signed signing attempt ${fault}`)
    }
    const mine = this.approvals.get(tx.id)
    if (!mine || !mine.vote.payload.approve) throw refuse('NOT_APPROVED', 'this node did not approve this proposal')
    if (mine.finished) throw refuse('FINISHED', 'this node saw this transaction finish: it is never signed again')
    if (tx.proposalHash !== mine.proposalHash || proposalHash(tx) !== mine.proposalHash || (attempt.proposalHash !== undefined && attempt.proposalHash !== mine.proposalHash)) {
      throw refuse('PROPOSAL_CHANGED', `the transaction in etcd is not the proposal this node approved (${mine.proposalHash.slice(0, 12)}…)`)
    }
    const approvers = new Set<number>([this.config.nodeId])
    for (const v of await this.store.votes(tx.id)) {
      if (v.payload.approve && (await this.store.voteValid(v, { id: mine.txId, proposalHash: mine.proposalHash }))) approvers.add(v.payload.nodeId)
    }
    if (approvers.size < this.config.threshold) {
      throw refuse('NO_QUORUM', `only ${approvers.size} valid signed approvals of this proposal (need ${this.config.threshold})`)
    }
    return mine
  }

  /** Publishes this node's result of an attempt, signed (only signed results count). */
  private async report(txId: string, attempt: number, result: SigningResult): Promise<void> {
    const body: SigningResult = { ...result, txId, attempt, proposalHash: this.approvals.get(txId)?.proposalHash }
    const signed: SigningResult = { ...body, signature: this.identity.sign(resultBody(body)) }
    for (let i = 0; i < 60; i++) {
      try {
        await this.etcd.put(WalletKeys.result(txId, attempt, this.config.nodeId), signed)
        return
      } catch (err) {
        this.log.warn(`reporting signing result: ${errorMessage(err)}; retrying`)
        await new Promise((r) => setTimeout(r, 1000))
      }
    }
  }

  // ------------------------------------------------------------------ presignatures

  /** Runs the oldest presignature job naming this node, one at a time. */
  private async maybePresign(): Promise<void> {
    if (this.presignRunning) return
    const me = this.config.nodeId
    const jobs = (await this.store.presignatures())
      .map((e) => e.value)
      .filter((p) => p.status === 'generating' && p.signers.includes(me))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    for (const job of jobs) {
      const results = await this.store.presigResults(job.id, job.signers)
      if (results.some((r) => r.nodeId === me)) continue
      if (results.some((r) => !r.ok) || (results.length > 0 && this.engine.presignatures().includes(job.id))) continue
      this.presignRunning = job.id
      void this.presign(job).finally(() => {
        this.presignRunning = null
        this.reconciler.kick()
      })
      return
    }
  }

  private async presign(job: PresigRecord): Promise<void> {
    const started = Date.now()
    let result: PresigResult
    try {
      await this.engine.ecdsaPresign(job.id, job.keyId, job.signers, job.path)
      this.log.log(`presignature ${job.id} (${job.path.join('/')}, signers ${job.signers.join(',')}) in ${Date.now() - started} ms`)
      result = { nodeId: this.config.nodeId, ok: true }
    } catch (err) {
      result = { nodeId: this.config.nodeId, ok: false, code: engineErrorCode(err) ?? 'INTERNAL', error: errorMessage(err) }
      this.log.warn(`presignature ${job.id} failed: ${result.code}: ${result.error}`)
    }
    await this.etcd.put(WalletKeys.presigResult(job.id, this.config.nodeId), result).catch((err) => this.log.warn(`reporting presignature: ${errorMessage(err)}`))
  }
}
