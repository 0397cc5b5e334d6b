import { Inject, Injectable, Logger } from '@nestjs/common'
import type { TransactionStateDto } from '@tw/api'
import { attachWitnesses, deriveEcdsaChild, deriveTaprootOutputKey } from '@tw/bitcoin'
import { AuditService } from '../audit/audit.service'
import { errorMessage } from '../common/async'
import { BoundedSet } from '../common/bounded'
import { withRequestId } from '../common/request-context'
import { Reconciler } from '../common/reconciler'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdRepository, type EtcdEntry } from '../cluster/etcd.repository'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { EngineRepository } from '../engine/engine.repository'
import { MetricsService } from '../metrics/metrics.service'
import { ChainRejectedError, type ChainBackend } from '../chain/chain.client'
import { ByzantineService } from '../byzantine/byzantine.service'
import { NodeIdentityService } from '../byzantine/identity.service'
import { decisionBody } from '@tw/api'
import { ApprovalLedger } from './approval-ledger'
import { attemptBody } from './leader-decision'
import { proposalBody, proposalHash } from './policy'
import { PartitionBook } from './partition-book'
import { decide, type Ballots, type Decision, type DecideInput, type OkResult } from './decide'
import { resultBody, signaturesValid, type KeyAt } from './signing-check'
import { replacedChain, TxStore } from './tx-store'
import { WalletService } from './wallet.service'
import {
  partitionKey,
  TERMINAL_STATES,
  WalletKeys,
  type PresigRecord,
  type SignedVote,
  type SigningAttempt,
  type SigningResult,
  type TxDecision,
  type TxRecord,
} from './wallet.types'

/** How long the votes and results the watch delivered serve before they are read from etcd again. */
const BOOK_RESYNC_MS = 10_000
/** Ballots not read (a state whose decision does not rest on the votes). */
const NO_BALLOTS: Ballots = { voted: new Set(), approvers: [], rejecters: [], approvals: [], rejections: [] }
/** A presignature job with missing results after this long is burned. */
const PRESIG_DEADLINE_MS = 10 * 60_000
/** A broadcast transaction's status is asked at least this often even at the same chain tip. */
const RECHECK_MS = 30_000
/** How often the leader asks the chain about refused sends that still hold coins (recheckRefused). */
const REFUSED_RECHECK_MS = 60_000

/**
 * The leader's half of a spend (DESIGN §5 steps 3–5), every write fenced on its term so a
 * deposed leader writes nothing and the next leader resumes from etcd. What happens next to a
 * transaction is decided by the pure {@link decide} (voting → approved / rejected / expired;
 * approved → a signing attempt; signing → signed or the next attempt without the culprits);
 * this service reads what a decision needs, carries it out (the attempt and its presignatures
 * in one fenced transaction, exactly once; a failed attempt's presignatures burned), and does
 * the chain's part: signed → broadcast → confirmed.
 * Also settles presignature jobs (ready when all four signers made it, burned otherwise).
 */
@Injectable()
export class TxCoordinatorService {
  private readonly log = new Logger('TxCoordinator')
  private readonly reconciler = new Reconciler(
    'TxCoordinator',
    1000,
    () => this.step(),
    () => this.metrics.stepErrors.inc({ loop: 'TxCoordinator' }),
  )
  /** The term whose start-up scan of every transaction (index back-fill) is done. */
  private indexedTerm: string | null = null
  /** Per broadcast transaction: the chain tip at its last status check, and when. */
  private readonly tracked = new Map<string, { tip: string; at: number }>()
  /** When the refused sends holding coins were last asked about (see recheckRefused). */
  private refusedCheckedAt = 0
  /** The votes on each unfinished transaction as the partition watch delivers them (each vote comes with its event). */
  private readonly votes = new PartitionBook<SignedVote>(BOOK_RESYNC_MS, (v) => v?.payload?.nodeId)
  /** The results of each transaction's current attempt (subject `<txId>/<attempt>`), the same way. */
  private readonly results = new PartitionBook<SigningResult>(BOOK_RESYNC_MS, (r) => r?.nodeId)
  /** Rewritten records of finished sends already reported (see {@link seenFinished}), per revision. */
  private readonly refusedRecords = new BoundedSet<string>(1000)
  /** The chain tip, read at most once per step (only when a transaction is broadcast). */
  private stepTip: Promise<string | null> | null = null

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly cluster: ClusterService,
    private readonly wallet: WalletService,
    private readonly store: TxStore,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
    private readonly identity: NodeIdentityService,
    private readonly byzantine: ByzantineService,
    private readonly engine: EngineRepository,
    private readonly approvals: ApprovalLedger,
  ) {}

  async start(): Promise<void> {
    // Record changes through the store's view, so a step never reads a record older than its kick.
    await this.store.onRecord(() => this.reconciler.kick())
    for (const prefix of ['/tw/nodes/', '/tw/leader']) {
      await this.etcd.watchPrefix(prefix, () => this.reconciler.kick()).catch(() => undefined)
    }
    // Votes, signing results and presignature results, each in its node's partition.
    const mine = new Set(['votes', 'results', 'presig-results'])
    await this.etcd
      .watchPrefix(WalletKeys.partitions, (key, deleted, entry) => {
        const k = partitionKey(key)
        if (!k || !mine.has(k.kind)) return
        const value = () => (deleted ? null : (entry()?.value ?? null))
        if (k.kind === 'votes') this.votes.changed(k.id, k.nodeId, value() as SignedVote | null)
        // /tw/n/<node>/results/<txId>/<attempt>
        if (k.kind === 'results') this.results.changed(key.split('/').slice(-2).join('/'), k.nodeId, value() as SigningResult | null)
        this.reconciler.kick()
      })
      .catch(() => undefined)
    this.reconciler.start()
  }

  stop(): Promise<void> {
    return this.reconciler.stop()
  }

  kick(): void {
    this.reconciler.kick()
  }

  private async step(): Promise<void> {
    const term = this.cluster.isLeader ? this.cluster.leaderTerm : null
    if (!term) {
      this.metrics.oldestBroadcastAge.set(0)
      return
    }
    if (this.indexedTerm !== term) await this.indexActive(term)
    this.stepTip = null
    // Transactions are independent (every write is fenced and compare-and-swapped), so they
    // advance side by side: one slow chain call or signer does not hold up the others.
    const active = await this.store.active()
    this.metrics.oldestBroadcastAge.set(oldestBroadcastAgeS(active.map((e) => e.value)))
    const ids = new Set(active.map((e) => e.value.id))
    for (const id of this.tracked.keys()) if (!ids.has(id)) this.tracked.delete(id)
    this.votes.retain((id) => ids.has(id))
    this.results.retain((subject) => ids.has(subject.split('/')[0]))
    // Each transaction's steps (and their log lines) under the id of the request that made it.
    await Promise.all(active.map((entry) => withRequestId(entry.value.requestId, () => this.follow(term, entry))))
    await this.settlePresignatures(term)
    if (Date.now() - this.refusedCheckedAt >= REFUSED_RECHECK_MS) {
      this.refusedCheckedAt = Date.now()
      await this.recheckRefused(term, ids)
    }
  }

  /**
   * A send the chain refused as invalid (failed CHAIN_REJECTED) keeps its coins reserved: a
   * signed version of it may still confirm (broadcast by someone else, or accepted by another
   * backend). Once in a while the leader asks the chain about each such send that still holds
   * coins (found from the reservations, never a scan of every transaction); if the chain has
   * it after all, the send is followed as broadcast again — so it confirms, its coins are
   * released and it counts as paid — instead of staying failed with its coins held forever.
   */
  private async recheckRefused(term: string, active: Set<string>): Promise<void> {
    const holders = new Set((await this.etcd.getPrefix<{ txId: string }>(WalletKeys.utxoLocks)).map((e) => e.value.txId))
    const chain = this.wallet.chain()
    for (const id of holders) {
      if (active.has(id)) continue
      try {
        const entry = await this.store.get(id)
        const tx = entry?.value
        if (!entry || !tx || tx.state !== 'failed' || tx.error?.code !== 'CHAIN_REJECTED' || !tx.txid || !tx.signedTx) continue
        const status = await chain.txStatus(tx.txid)
        if (!status.found) continue
        const moved = await this.transition(
          term,
          entry,
          'broadcast',
          { error: null },
          { puts: [[WalletKeys.active(id), { createdAt: tx.createdAt }]] },
          { chain: { found: true, confirmed: status.confirmed, blockHeight: status.blockHeight, refusedBefore: tx.error.message } },
        )
        if (moved) this.log.warn(`transaction ${id}: refused by the chain earlier, but the chain has ${tx.txid} now: followed as broadcast again`)
      } catch (err) {
        this.log.warn(`rechecking refused transaction ${id}: ${errorMessage(err)}`)
      }
    }
  }

  /** Follows a transaction through every step it can take now (approved → signing, signed → broadcast). */
  private async follow(term: string, entry: EtcdEntry<TxRecord>): Promise<void> {
    try {
      let current: EtcdEntry<TxRecord> | null = entry
      for (let hop = 0; hop < 4 && current && !TERMINAL_STATES.includes(current.value.state); hop++) {
        await this.advance(term, current)
        const next: EtcdEntry<TxRecord> | null = await this.etcd.get<TxRecord>(current.key)
        if (next) this.store.observe(next)
        if (!next || next.modRevision === current.modRevision) break
        current = next
      }
    } catch (err) {
      this.log.warn(`transaction ${entry.value.id} (${entry.value.state}): ${errorMessage(err)}`)
    }
  }

  /**
   * Once per term: every unfinished transaction gets its `/tw/tx-active/` entry (records
   * written before the index existed), so the steps can read the index alone.
   */
  private async indexActive(term: string): Promise<void> {
    const indexed = new Set((await this.etcd.getPrefix<unknown>(WalletKeys.actives)).map((e) => e.key.slice(WalletKeys.actives.length)))
    // Page by page (never the whole prefix in one answer: it passes the gRPC response limit).
    for await (const page of this.store.pages()) {
      for (const e of page) {
        const tx = e.value
        if (TERMINAL_STATES.includes(tx.state) || indexed.has(tx.id)) continue
        await this.etcd.fencedTxn(term, { unchanged: [[e.key, e.modRevision]], puts: [[WalletKeys.active(tx.id), { createdAt: tx.createdAt }]] })
      }
    }
    this.indexedTerm = term
  }

  /**
   * One step of a transaction: read what its state needs, {@link decide} the next step (pure),
   * carry it out. Approval goes straight on to the first attempt, and a failed attempt that
   * leaves signers out straight on to the next one, each with one more read of the record.
   */
  private async advance(term: string, entry: EtcdEntry<TxRecord>, exclude: number[] = [], read?: Ballots): Promise<void> {
    const tx = entry.value
    if (this.seenFinished(entry)) return
    const { input, keyAt } = await this.readInput(tx, exclude, read)
    const { decision, accuse } = decide(input)
    for (const r of accuse) {
      this.log.warn(`node ${r.nodeId} reported signatures for ${tx.id} attempt ${input.attempt?.attempt} that do not verify`)
      await this.byzantine.accuse('invalid_signature', r.nodeId, `${tx.id}.${input.attempt?.attempt}.result`, {
        txId: tx.id,
        attempt: input.attempt?.attempt,
        result: r,
        proposal: proposalBody(tx),
      })
    }
    switch (decision.kind) {
      case 'wait':
        if (decision.why.startsWith('the record no longer matches')) this.log.error(`transaction ${tx.id}: ${decision.why}; no signing attempt`)
        return
      case 'approve': {
        const ok = await this.transition(term, entry, 'approved', {}, {}, { votes: decision.votes })
        // Straight on to signing with the ballots just read (no second read of the votes).
        const fresh = ok ? await this.etcd.get<TxRecord>(entry.key) : null
        if (fresh?.value.state === 'approved') await this.advance(term, fresh, [], input.ballots)
        return
      }
      case 'reject':
        await this.transition(term, entry, 'rejected', { error: decision.error }, { deletes: this.lockKeys(tx) }, { votes: decision.votes })
        return
      case 'expire':
      case 'fail':
        await this.transition(term, entry, decision.kind === 'expire' ? 'expired' : 'failed', { error: decision.error }, { deletes: this.lockKeys(tx) })
        return
      case 'attempt':
        return this.startAttempt(term, entry, decision)
      case 'signed':
        return this.finishSigning(term, entry, input.attempt!, decision.result, keyAt!)
      case 'attemptFailed':
        return this.failAttempt(term, entry, decision)
      case 'broadcast':
        return this.broadcast(term, entry)
      case 'track':
        return this.track(term, entry)
    }
  }

  /**
   * Whether this node's own approval ledger saw `entry`'s send finish while etcd holds it in a
   * state that leads to signing (voting, approved, signing): the record was rewritten in etcd
   * (with an index entry, which any proposer may write). The leader then neither decides nor
   * starts an attempt for it: the send ended, whatever etcd now says (logged once per revision).
   */
  private seenFinished(entry: EtcdEntry<TxRecord>): boolean {
    const tx = entry.value
    if (!['pending', 'voting', 'approved', 'signing'].includes(tx.state) || !this.approvals.get(tx.id)?.finished) return false
    const memo = `${tx.id}|${entry.modRevision}`
    if (!this.refusedRecords.has(memo)) {
      this.refusedRecords.add(memo)
      this.log.error(`transaction ${tx.id}: this node saw it finish, but etcd holds it in state ${tx.state}: the record was rewritten; not advanced`)
      void this.audit.record('tx.decision_refused', { txId: tx.id, state: tx.state, reason: 'finished in this node’s approval ledger', leader: this.config.nodeId })
    }
    return true
  }

  /** What {@link decide} needs for `tx`'s state, read from etcd (and nothing it does not need). */
  private async readInput(tx: TxRecord, exclude: number[], read?: Ballots): Promise<{ input: DecideInput; keyAt: KeyAt | null }> {
    const input: DecideInput = {
      record: tx,
      ballots: read ?? NO_BALLOTS,
      attempt: null,
      results: [],
      signaturesValid: null,
      pool: [],
      exclude,
      cluster: {
        threshold: this.config.threshold,
        clusterSize: this.config.clusterSize,
        up: this.cluster.upNodes(),
        banned: this.cluster.bannedNodes(),
        keyPaused: this.engine.isPaused(tx.keyId),
        sessionTimeoutMs: this.config.sessionTimeoutMs,
      },
      now: Date.now(),
    }
    if (tx.state === 'signing') input.attempt = (await this.etcd.get<SigningAttempt>(WalletKeys.attempt(tx.id, tx.attempt)))?.value ?? null
    const attempting = tx.state === 'approved' || (tx.state === 'signing' && !input.attempt)
    // decide() stops at a rewritten record or a paused key: nothing more to read.
    if (attempting && (proposalHash(tx) !== tx.proposalHash || input.cluster.keyPaused)) return { input, keyAt: null }
    if (!read && (tx.state === 'pending' || tx.state === 'voting' || attempting)) input.ballots = await this.ballots(tx)
    if (attempting && tx.type === 'segwit') input.pool = await this.store.presignatures()
    let keyAt: KeyAt | null = null
    if (input.attempt) {
      input.results = await this.signedResults(tx, input.attempt)
      const key = input.results.some((r) => r.ok) ? await this.wallet.keyById(tx.keyId) : null
      if (key) {
        const at = this.keyAt(tx, key)
        keyAt = at
        // Each report is checked once (a signature check per input).
        input.signaturesValid = (r) => signaturesValid(tx, r.signatures, at)
      }
    }
    return { input, keyAt }
  }

  /** The wallet's key at an input's path, derived from this node's own key record. */
  private keyAt(tx: TxRecord, key: NonNullable<Awaited<ReturnType<WalletService['keyById']>>>): KeyAt {
    return (path: number[]) => ({
      publicKey: tx.type === 'segwit' ? deriveEcdsaChild(key.publicKey, key.chainCode, path) : deriveTaprootOutputKey(key.publicKey, key.chainCode, path),
      scriptPubKey: this.wallet.derive(key, path).scriptPubKey,
    })
  }

  /**
   * Writes `tx` in `state` if it is unchanged since read and we still lead; also deletes/puts
   * `extra`. The new state carries this leader's signed decision (issue 13 item 6): what it
   * decided, in which term, and what it rests on (`basis`: the signed votes of an approval or
   * rejection, the chain's answer), so followers check it before acting on it.
   */
  private async transition(
    term: string,
    entry: EtcdEntry<TxRecord>,
    state: TransactionStateDto,
    patch: Partial<TxRecord> = {},
    extra: { puts?: [string, unknown][]; deletes?: string[]; absent?: string[]; unchanged?: [string, string][] } = {},
    basis: { votes?: SignedVote[]; chain?: Record<string, unknown> } = {},
  ): Promise<boolean> {
    const advanced = TxStore.advance(entry.value, state, patch)
    const body: TxDecision = {
      txId: advanced.id,
      state,
      from: entry.value.state,
      attempt: advanced.attempt,
      proposalHash: advanced.proposalHash,
      term,
      leader: this.config.nodeId,
      clusterSize: this.config.clusterSize,
      error: advanced.error,
      excluded: advanced.excluded ?? [],
      votes: basis.votes ?? [],
      chain: basis.chain,
      decidedAt: advanced.updatedAt,
    }
    const next: TxRecord = { ...advanced, decision: { ...body, signature: this.identity.sign(decisionBody(body)) } }
    const finished = TERMINAL_STATES.includes(state) ? [WalletKeys.active(next.id)] : []
    const ok = await this.etcd.fencedTxn(term, {
      unchanged: [[entry.key, entry.modRevision], ...(extra.unchanged ?? [])],
      absent: extra.absent,
      puts: [[entry.key, next], ...(extra.puts ?? [])],
      deletes: [...(extra.deletes ?? []), ...finished],
    })
    if (ok) {
      this.metrics.transactions.inc({ state })
      this.log.log(`transaction ${next.id}: ${entry.value.state} → ${state}${patch.error ? ` (${patch.error.code}: ${patch.error.message})` : ''}`)
      // Bookkeeping off the spend's path: both writers keep this node's order (audit entries
      // in sequence, the mirror at the newest state), and neither holds up the next step.
      void this.audit.record('tx.state', { txId: next.id, from: entry.value.state, to: state, txid: next.txid, error: next.error })
      void this.store.mirror(next)
    }
    return ok
  }

  /**
   * The coin reservations a transaction releases when it ends: its inputs'. A replacement (fee
   * bump, cancellation) shares those of the transaction it replaces and releases them only by
   * confirming: until then they hold what it replaces, which may still confirm.
   */
  private lockKeys(tx: TxRecord, confirmed = false): string[] {
    if (tx.replacement && !confirmed) return []
    return tx.inputs.map((i) => WalletKeys.utxoLock(i.txid, i.vout))
  }

  // ------------------------------------------------------------------ voting

  /** The transaction's votes, read once: who voted at all, and who approved or rejected with a valid signature. */
  private async ballots(tx: TxRecord): Promise<Ballots> {
    const b: Ballots = { voted: new Set(), approvers: [], rejecters: [], approvals: [], rejections: [] }
    for (const v of await this.votes.values(tx.id, () => this.store.votes(tx.id))) {
      b.voted.add(v.payload.nodeId)
      if (!(await this.store.voteValid(v, tx))) continue
      ;(v.payload.approve ? b.approvers : b.rejecters).push(v.payload.nodeId)
      ;(v.payload.approve ? b.approvals : b.rejections).push(v)
    }
    return b
  }

  // ------------------------------------------------------------------ signing

  /**
   * Writes the attempt {@link decide} chose, signed by this leader with the approvals it rests
   * on (signers check it, and a faulty one is evidence against this node). The presignatures it
   * uses are allocated in the same fenced transaction (compare-and-swap on each record: exactly
   * once).
   */
  private async startAttempt(term: string, entry: EtcdEntry<TxRecord>, d: Extract<Decision, { kind: 'attempt' }>): Promise<void> {
    const tx = entry.value
    const body: SigningAttempt = {
      txId: tx.id,
      attempt: d.attempt,
      signers: d.signers,
      mode: d.mode,
      presignatures: tx.inputs.map((_, i) => d.picks[i]?.value.id ?? null),
      createdAt: new Date().toISOString(),
      term,
      proposalHash: tx.proposalHash,
      leader: this.config.nodeId,
      approvals: d.approvals,
    }
    const record: SigningAttempt = { ...body, signature: this.identity.sign(attemptBody(body)) }
    await this.transition(
      term,
      entry,
      'signing',
      { attempt: d.attempt, signers: d.signers, signingMode: d.mode },
      {
        absent: [WalletKeys.attempt(tx.id, d.attempt)],
        puts: [[WalletKeys.attempt(tx.id, d.attempt), record], ...d.picks.map((p): [string, unknown] => [p.key, { ...p.value, status: 'allocated', txId: tx.id }])],
        unchanged: d.picks.map((p): [string, string] => [p.key, p.modRevision]),
      },
    )
  }

  /** A report whose signatures verify: the witnesses go on the unsigned transaction, its presignatures are used. */
  private async finishSigning(term: string, entry: EtcdEntry<TxRecord>, attempt: SigningAttempt, good: OkResult, keyAt: KeyAt): Promise<void> {
    const tx = entry.value
    const witnesses = tx.inputs.map((input, i) =>
      tx.type === 'segwit'
        ? [Buffer.concat([Buffer.from(good.signatures[i], 'hex'), Buffer.from([0x01])]), Buffer.from(keyAt(input.path).publicKey)]
        : [Buffer.from(good.signatures[i], 'hex')],
    )
    const signed = attachWitnesses(tx.unsignedTx, witnesses)
    const used = attempt.presignatures.filter((p): p is string => Boolean(p))
    const presigPuts = await this.presigUpdates(used, 'used', tx.id)
    await this.transition(term, entry, 'signed', { signedTx: signed.hex, txid: signed.txid }, { puts: presigPuts })
  }

  /** The attempt's results that count: each signed by the signer it names, about this transaction and attempt. */
  private async signedResults(tx: TxRecord, attempt: SigningAttempt): Promise<SigningResult[]> {
    const out: SigningResult[] = []
    const held = await this.results.values(`${tx.id}/${attempt.attempt}`, () => this.store.results(tx.id, attempt.attempt, attempt.signers))
    for (const r of held.filter((r) => attempt.signers.includes(r.nodeId))) {
      if (r.txId !== tx.id || r.attempt !== attempt.attempt) continue
      if (typeof r.signature !== 'string' || !(await this.identity.verify(r.nodeId, resultBody(r), r.signature))) continue
      out.push(r)
    }
    return out
  }

  /**
   * Burns the attempt's presignatures and starts the next attempt without `exclude`, or fails
   * (after {@link MAX_ATTEMPTS}). `persistent` (culprits of misbehaviour) stay out of every
   * later attempt of this send; the rest (silent or refusing nodes: faults) only out of the next one.
   */
  private async failAttempt(term: string, entry: EtcdEntry<TxRecord>, d: Extract<Decision, { kind: 'attemptFailed' }>): Promise<void> {
    const tx = entry.value
    const { attempt, error } = d
    const burned = attempt.presignatures.filter((p): p is string => Boolean(p))
    const presigPuts = await this.presigUpdates(burned, 'burned', tx.id)
    if (burned.length) await this.audit.record('presig.burned', { txId: tx.id, attempt: attempt.attempt, presignatures: burned, reason: error.code })
    this.log.warn(`transaction ${tx.id} attempt ${attempt.attempt} failed: ${error.code}: ${error.message}`)
    if (d.final) {
      await this.transition(term, entry, 'failed', { error }, { puts: presigPuts, deletes: this.lockKeys(tx) })
      return
    }
    // Back to approved with the failure noted; the next step picks new signers without the culprits.
    const excluded = [...new Set([...(tx.excluded ?? []), ...d.persistent])].sort((a, b) => a - b)
    // Still approved: the decision carries the approvals again (a retry rests on them too): the
    // votes this leader reads and verifies now, never the attempt's (another leader wrote it, or
    // a compromised node rewrote it in etcd: signing a decision on its approvals would make this
    // leader the author of a faulty decision, accused and banned by every honest node).
    const ok = await this.transition(term, entry, 'approved', { error, excluded }, { puts: presigPuts }, { votes: (await this.ballots(tx)).approvals })
    if (ok && d.exclude.length) {
      const fresh = await this.etcd.get<TxRecord>(entry.key)
      if (fresh) await this.advance(term, fresh, d.exclude)
    }
  }

  private async presigUpdates(ids: string[], status: 'used' | 'burned', txId: string): Promise<[string, unknown][]> {
    const puts: [string, unknown][] = []
    for (const id of ids) {
      const rec = (await this.etcd.get<PresigRecord>(WalletKeys.presig(id)))?.value
      if (rec) puts.push([WalletKeys.presig(id), { ...rec, status, txId }])
    }
    return puts
  }

  // ------------------------------------------------------------------ chain

  /**
   * Broadcasts a signed transaction. A refusal is not a failure until the chain says why:
   * already known (an earlier broadcast, perhaps a previous leader's, went through) → followed
   * as broadcast; an input spent by another transaction → failed INPUTS_SPENT_ELSEWHERE and
   * its coins released (they are gone); otherwise failed CHAIN_REJECTED with the coins kept
   * reserved (this signed transaction might still confirm).
   */
  private async broadcast(term: string, entry: EtcdEntry<TxRecord>): Promise<void> {
    const tx = entry.value
    const chain = this.wallet.chain()
    let refusal: ChainRejectedError
    try {
      const txid = await chain.broadcast(tx.signedTx!)
      if (txid !== tx.txid) this.log.warn(`chain answered txid ${txid} for ${tx.txid}`)
      await this.transition(term, entry, 'broadcast', {}, {}, { chain: { broadcast: txid } })
      return
    } catch (err) {
      if (!(err instanceof ChainRejectedError)) {
        this.log.warn(`broadcasting ${tx.id}: ${errorMessage(err)}; will retry`)
        return
      }
      refusal = err
    }
    let verdict: RejectionVerdict
    try {
      verdict = await classifyRejection(chain, tx, refusal)
    } catch (err) {
      this.log.warn(`the chain refused ${tx.id} (${refusal.reason}) and could not be asked why: ${errorMessage(err)}; will retry`)
      return
    }
    if (verdict.kind === 'known') {
      this.log.log(`transaction ${tx.id}: the chain already has ${tx.txid} (${refusal.reason}); following it`)
      await this.transition(term, entry, 'broadcast', {}, {}, { chain: { refusal: refusal.reason, known: true } })
    } else if (verdict.kind === 'spentElsewhere') {
      await this.spentElsewhere(term, entry, verdict, refusal.reason)
    } else {
      // Signed transactions keep their coins reserved: they may still confirm later.
      const message = `${refusal.reason} (its coins stay reserved: this signed transaction may still confirm)`
      await this.transition(term, entry, 'failed', { error: { code: 'CHAIN_REJECTED', message } }, {}, { chain: { refusal: refusal.reason } })
    }
  }

  /**
   * A broadcast transaction's confirmations change only with the chain's tip: its status is
   * asked again when the tip moved, or every {@link RECHECK_MS} (to re-announce it if a
   * mempool dropped it), not on every step.
   */
  private async track(term: string, entry: EtcdEntry<TxRecord>): Promise<void> {
    const tx = entry.value
    const chain = this.wallet.chain()
    const tip = await (this.stepTip ??= chain.tipHash().catch(() => null))
    const last = this.tracked.get(tx.id)
    if (tip !== null && last?.tip === tip && Date.now() - last.at < RECHECK_MS) return
    const status = await chain.txStatus(tx.txid!)
    // The tip was read before the status: if a block landed in between, the next check sees a new tip.
    if (tip !== null) this.tracked.set(tx.id, { tip, at: Date.now() })
    if (!status.found) {
      // Dropped from a mempool: re-announce. If it can no longer be, because another
      // transaction spent one of its inputs, it never will confirm: say so and free its coins.
      try {
        await chain.broadcast(tx.signedTx!)
      } catch (err) {
        if (!(err instanceof ChainRejectedError)) return
        const verdict = await classifyRejection(chain, tx, err).catch(() => null)
        if (verdict?.kind === 'spentElsewhere') await this.spentElsewhere(term, entry, verdict, err.reason)
      }
      return
    }
    if (!status.confirmed || status.blockHeight === null) return
    const confirmations = (await chain.tipHeight()) - status.blockHeight + 1
    if (confirmations >= this.config.chain.confirmations) {
      await this.transition(term, entry, 'confirmed', {}, { deletes: this.lockKeys(tx, true) }, { chain: { blockHeight: status.blockHeight, confirmations } })
    }
  }

  /**
   * Another transaction spent an input of `entry`'s, so it will never confirm. If that is its
   * replacement (fee bump, cancellation), it ended REPLACED and the reservations pass to the
   * replacement; if it is a replacement and the spender the transaction it replaces, the chain
   * kept that one (REPLACEMENT_REFUSED) and the reservations stay with it; otherwise the coins
   * are gone (INPUTS_SPENT_ELSEWHERE) and their reservations released.
   */
  private async spentElsewhere(term: string, entry: EtcdEntry<TxRecord>, verdict: Extract<RejectionVerdict, { kind: 'spentElsewhere' }>, refusal: string): Promise<void> {
    const tx = entry.value
    const detail = { chain: { ...verdict, refusal } }
    const replacement = await this.replacementSpending(tx, verdict.spender)
    if (replacement) {
      const message = `replaced by transaction ${replacement.id} (txid ${verdict.spender}, ${verdict.confirmed ? 'confirmed' : 'in the mempool'}); its coin reservations pass to it`
      await this.transition(term, entry, 'failed', { error: { code: 'REPLACED', message }, replacedBy: replacement.id }, {}, detail)
      return
    }
    const kept = tx.replacement ? await this.replacedSpending(tx, verdict.spender) : null
    if (kept) {
      const message = `the chain kept transaction ${kept.id} (txid ${verdict.spender}) instead of this ${tx.replacement?.kind === 'cancel' ? 'cancellation' : 'fee bump'}: ${refusal}`
      await this.transition(term, entry, 'failed', { error: { code: 'REPLACEMENT_REFUSED', message } }, {}, detail)
      return
    }
    await this.transition(term, entry, 'failed', { error: spentElsewhereError(verdict) }, { deletes: this.lockKeys(tx) }, detail)
  }

  /** The replacement of `tx` whose txid is `spender` (among the active transactions, else by txid in this node's mirror), or null. */
  private async replacementSpending(tx: TxRecord, spender: string): Promise<TxRecord | null> {
    const active = (await this.store.active()).map((e) => e.value).find((r) => r.txid === spender && r.replacement?.of === tx.id)
    if (active) return active
    const id = await this.store.idByTxid(spender).catch(() => null)
    const found = id ? ((await this.store.get(id))?.value ?? null) : null
    return found?.replacement?.of === tx.id ? found : null
  }

  /** Of the transactions `tx` replaces (a chain of fee bumps), the one whose txid is `spender`, or null. */
  private async replacedSpending(tx: TxRecord, spender: string): Promise<TxRecord | null> {
    return (await replacedChain(tx, (id) => this.store.get(id))).find((r) => r.txid === spender) ?? null
  }

  // ------------------------------------------------------------------ presignatures

  private async settlePresignatures(term: string): Promise<void> {
    const pool = await this.store.presignatures()
    const sizes = new Map<string, number>()
    for (const e of pool) {
      const p = e.value
      if (p.status === 'ready') sizes.set(p.signers.join(','), (sizes.get(p.signers.join(',')) ?? 0) + 1)
      if (p.status !== 'generating') continue
      const results = await this.store.presigResults(p.id, p.signers)
      let status: PresigRecord['status'] | null = null
      if (results.some((r) => !r.ok)) status = 'burned'
      else if (p.signers.every((s) => results.some((r) => r.nodeId === s && r.ok))) status = 'ready'
      else if (Date.now() - Date.parse(p.createdAt) > PRESIG_DEADLINE_MS) status = 'burned'
      if (!status) continue
      const ok = await this.etcd.fencedTxn(term, { unchanged: [[e.key, e.modRevision]], puts: [[e.key, { ...p, status }]] })
      if (ok) await this.audit.record(status === 'ready' ? 'presig.generated' : 'presig.burned', { id: p.id, keyId: p.keyId, path: p.path, signers: p.signers })
    }
    this.metrics.presignaturePool.reset()
    for (const [set, n] of sizes) this.metrics.presignaturePool.set({ signer_set: set }, n)
  }
}

/** Why the chain refused a signed transaction, as the chain itself tells (not the error text alone). */
export type RejectionVerdict = { kind: 'known' } | { kind: 'spentElsewhere'; outpoint: string; spender: string; confirmed: boolean } | { kind: 'invalid' }

/**
 * Asks the chain about a transaction it refused: known (its txid is in a block or the
 * mempool, or the refusal says so), one of its inputs spent by another transaction, or truly
 * invalid. Throws when the chain cannot be asked (then nothing is decided).
 */
export async function classifyRejection(
  chain: Pick<ChainBackend, 'txStatus' | 'outspend'>,
  tx: Pick<TxRecord, 'txid' | 'inputs'>,
  refusal: ChainRejectedError,
): Promise<RejectionVerdict> {
  if (tx.txid && (await chain.txStatus(tx.txid)).found) return { kind: 'known' }
  if (refusal.alreadyKnown) return { kind: 'known' }
  const spent = await firstSpentInput(chain, tx.inputs)
  if (!spent) return { kind: 'invalid' }
  if (spent.spender === tx.txid) return { kind: 'known' }
  return { kind: 'spentElsewhere', ...spent }
}

/** The first of `inputs` the chain says is spent (by which transaction, confirmed or in the mempool); null when none is. */
export async function firstSpentInput(
  chain: Pick<ChainBackend, 'outspend'>,
  inputs: readonly { txid: string; vout: number }[],
): Promise<{ outpoint: string; spender: string; confirmed: boolean } | null> {
  for (const input of inputs) {
    const s = await chain.outspend(input.txid, input.vout)
    if (s.spent && s.txid) return { outpoint: `${input.txid}:${input.vout}`, spender: s.txid, confirmed: s.confirmed }
  }
  return null
}

/** The record's error for a transaction whose input another transaction spent. */
function spentElsewhereError(v: Extract<RejectionVerdict, { kind: 'spentElsewhere' }>): { code: string; message: string } {
  return {
    code: 'INPUTS_SPENT_ELSEWHERE',
    message: `input ${v.outpoint} is spent by transaction ${v.spender} (${v.confirmed ? 'confirmed' : 'in the mempool'}); the coin reservations are released`,
  }
}

/** Seconds since the longest-waiting send in `broadcast` got there (0 when none): what TwTransactionStuckInBroadcast watches. */
export function oldestBroadcastAgeS(records: readonly TxRecord[], now = Date.now()): number {
  let oldest = now
  for (const r of records) {
    if (r.state !== 'broadcast') continue
    const at = Date.parse([...r.history].reverse().find((h) => h.state === 'broadcast')?.at ?? r.updatedAt)
    if (Number.isFinite(at)) oldest = Math.min(oldest, at)
  }
  return Math.max(0, Math.round((now - oldest) / 1000))
}
