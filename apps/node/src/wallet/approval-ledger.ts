import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { BoundedMap } from '../common/bounded'
import { recordFile, writeFileDurably } from '../common/durable-file'
import { proposalHash, type ProposalBody, proposalBody } from './policy'
import type { SignedVote, TxRecord } from './wallet.types'

/** Format version of a ledger entry on disk. */
const LEDGER_VERSION = 1
/** Entries kept in memory. */
const CACHE_MAX = 10_000

/**
 * What this node voted on one proposal, kept on its own disk (never in etcd): the canonical
 * proposal it judged, its hash, the signed vote it published, the signing attempts it
 * started, and whether it saw the transaction finish.
 */
export interface ApprovalEntry {
  version: number
  txId: string
  proposalHash: string
  /** Everything the sighashes depend on (unsigned transaction, inputs with value and path, outputs). */
  proposal: ProposalBody
  /** The one vote this node cast on this transaction, byte for byte as published. */
  vote: SignedVote
  /** Signing attempts this node started a session for (in this or an earlier process). */
  attempts: number[]
  /** Set once this node saw the transaction in a terminal state: it is never signed again. */
  finished: boolean
  /** The terminal state this node saw (absent while unfinished). */
  finalState?: string
}

/** What the daily limit needs of an entry (kept in memory for the last two days). */
interface Spend {
  amountSats: number
  votedAt: number
  counts: boolean
}

/** Outcomes of a transaction that was never signed: what it would have sent does not count. */
const UNSPENT_OUTCOMES = ['rejected', 'expired', 'failed']
const TWO_DAYS_MS = 48 * 3600_000

/** Why the ledger refuses to record a vote. */
export class LedgerConflictError extends Error {
  readonly code = 'PROPOSAL_CHANGED'
}

/**
 * The local approval ledger (DESIGN §5 "trust model", security-tests C7): like a CometBFT
 * private validator's state file, it is written and fsynced *before* what it records takes
 * effect — a vote before it is published, a signing attempt before its session starts — so
 * that whatever etcd says later, this node
 * - casts one vote per transaction, ever (a vanished vote key gets the same bytes again);
 * - signs only the proposal it approved, computing every sighash from its own copy;
 * - joins a signing attempt at most once (a restart mid-session reports the attempt missed
 *   instead of rejoining it with a fresh protocol state);
 * - never signs a transaction it saw finish.
 *
 * One small JSON file per transaction under `<keystore dir>/approvals/`, replaced atomically
 * (write, fsync, rename, fsync the directory).
 *
 * @example
 * const entry = ledger.recordVote(tx, vote) // before etcd.putIfAbsent(voteKey, vote)
 * if (ledger.get(tx.id)?.proposalHash !== proposalHash(tx)) refuse()
 */
export class ApprovalLedger {
  private readonly entries = new BoundedMap<string, ApprovalEntry | null>(CACHE_MAX)
  /** Approvals of the last two days (the daily limit's input), read from disk at start. */
  private readonly spends = new Map<string, Spend>()

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const since = Date.now() - TWO_DAYS_MS
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.json')) continue
      try {
        if (statSync(path.join(dir, f)).mtimeMs < since) continue
        this.index(JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as ApprovalEntry)
      } catch {
        // an unreadable entry is reported when its transaction is read (get)
      }
    }
  }

  /**
   * Sats this node approved in the last 24 h (DESIGN §5: the daily limit each voter enforces),
   * not counting `exceptTxId`: every approval counts unless this node saw the transaction end
   * rejected, expired or failed without ever having started to sign it. Computed from this
   * node's own ledger, so nothing rewritten in etcd lowers it.
   */
  approvedSince(since: number, exceptTxId: string): number {
    let total = 0
    for (const [txId, s] of this.spends) {
      if (txId !== exceptTxId && s.counts && s.votedAt > since) total += s.amountSats
    }
    return total
  }

  private index(entry: ApprovalEntry): void {
    const votedAt = Date.parse(entry.vote.payload.votedAt)
    if (!entry.vote.payload.approve || !(votedAt > Date.now() - TWO_DAYS_MS)) {
      this.spends.delete(entry.txId)
      return
    }
    const neverSigned = entry.attempts.length === 0 && entry.finalState !== undefined && UNSPENT_OUTCOMES.includes(entry.finalState)
    // A replacement (fee bump, cancellation) counts only what it pays beyond the transaction it
    // replaces: at most one of them can confirm, and that one is counted already.
    const replaced = entry.proposal.replacement ? this.getQuietly(entry.proposal.replacement.of) : null
    const amountSats = replaced ? Math.max(0, entry.proposal.amountSats - replaced.proposal.amountSats) : entry.proposal.amountSats
    this.spends.set(entry.txId, { amountSats, votedAt, counts: !neverSigned })
    if (this.spends.size > 100_000) {
      for (const [id, s] of this.spends) if (s.votedAt <= Date.now() - TWO_DAYS_MS) this.spends.delete(id)
    }
  }

  /** {@link get}, null when the entry is unreadable. */
  private getQuietly(txId: string): ApprovalEntry | null {
    try {
      return this.get(txId)
    } catch {
      return null
    }
  }

  /**
   * What this node approved of `txId` and of what it replaces in turn (a chain of fee bumps),
   * nearest first: empty when this node did not approve `txId`. At most 25 links.
   */
  approvedChain(txId: string): ApprovalEntry[] {
    const chain: ApprovalEntry[] = []
    for (let id: string | undefined = txId; id && chain.length < 25;) {
      const e = this.getQuietly(id)
      if (!e || !e.vote.payload.approve || chain.some((c) => c.txId === e.txId)) break
      chain.push(e)
      id = e.proposal.replacement?.of
    }
    return chain
  }

  /** This node's entry for `txId`, or null if it never voted on it. */
  get(txId: string): ApprovalEntry | null {
    const cached = this.entries.get(txId)
    if (cached !== undefined) return cached
    let entry: ApprovalEntry | null = null
    try {
      const parsed = JSON.parse(readFileSync(recordFile(this.dir, txId), 'utf8')) as ApprovalEntry
      if (parsed.version !== LEDGER_VERSION || parsed.txId !== txId) throw new Error(`approval ledger entry for ${txId} is not readable (version ${parsed.version})`)
      entry = parsed
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    this.remember(txId, entry)
    return entry
  }

  /**
   * Records this node's vote on `tx` (durably) before it is published. Idempotent for the same
   * vote; a second, different vote on the same transaction is refused.
   *
   * @throws LedgerConflictError if this node already voted on `tx.id` (another vote or proposal).
   */
  recordVote(tx: TxRecord, vote: SignedVote): ApprovalEntry {
    const hash = proposalHash(tx)
    if (vote.payload.txId !== tx.id || vote.payload.proposalHash !== hash) throw new Error('the vote is not about this proposal')
    const existing = this.get(tx.id)
    if (existing) {
      if (JSON.stringify(existing.vote) === JSON.stringify(vote)) return existing
      throw new LedgerConflictError(`this node already voted on ${tx.id} (proposal ${existing.proposalHash.slice(0, 12)}…)`)
    }
    const entry: ApprovalEntry = { version: LEDGER_VERSION, txId: tx.id, proposalHash: hash, proposal: proposalBody(tx), vote, attempts: [], finished: false }
    this.write(entry)
    return entry
  }

  /**
   * Records that this node starts the session of signing attempt `attempt` (durably, before
   * the session starts). Returns false if it already started it (in an earlier life).
   */
  startAttempt(txId: string, attempt: number): boolean {
    const entry = this.require(txId)
    if (entry.attempts.includes(attempt)) return false
    this.write({ ...entry, attempts: [...entry.attempts, attempt] })
    return true
  }

  /** This node saw `txId` finish (in `state`): it never signs it again. */
  markFinished(txId: string, state: string): void {
    const entry = this.get(txId)
    if (!entry || entry.finished) return
    this.write({ ...entry, finished: true, finalState: state })
  }

  /** Transaction ids with an entry on disk (for tests and operators). */
  list(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => (JSON.parse(readFileSync(path.join(this.dir, f), 'utf8')) as ApprovalEntry).txId)
  }

  private require(txId: string): ApprovalEntry {
    const entry = this.get(txId)
    if (!entry) throw new Error(`no approval recorded for ${txId}`)
    return entry
  }

  private write(entry: ApprovalEntry): void {
    writeFileDurably(recordFile(this.dir, entry.txId), JSON.stringify(entry))
    this.index(entry)
    this.remember(entry.txId, entry)
  }

  /** Entries read are cached; the disk stays the record (the cache is dropped when it grows large). */
  private remember(txId: string, entry: ApprovalEntry | null): void {
    this.entries.set(txId, entry)
  }
}
