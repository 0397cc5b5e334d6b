import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { ApprovalLedger, LedgerConflictError } from './approval-ledger'
import { proposalHash } from './policy'
import type { SignedVote, TxRecord } from './wallet.types'

const record = (id: string, unsignedTx: string): TxRecord => {
  const base = { id, keyId: 'k1', type: 'taproot' as const, to: 'bcrt1p…', amountSats: 1000, unsignedTx, inputs: [], outputs: [] }
  return { ...base, proposalHash: proposalHash(base) } as unknown as TxRecord
}
const voteOn = (tx: TxRecord, approve = true, votedAt = '2026-01-01T00:00:00.000Z'): SignedVote => ({
  payload: { txId: tx.id, proposalHash: proposalHash(tx), nodeId: 1, approve, reason: null, votedAt },
  signature: `sig-${approve}`,
})

describe('ApprovalLedger (the local record of what this node approved)', () => {
  const dirs: string[] = []
  const fresh = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'tw-approvals-'))
    dirs.push(d)
    return d
  }
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

  it('a vote recorded before a crash is there for the next process, byte for byte (it is republished, never recast)', () => {
    const dir = fresh()
    const tx = record('t1', '0200')
    const vote = voteOn(tx)
    new ApprovalLedger(dir).recordVote(tx, vote)
    // The process died before publishing: a new one reads the same vote and the approved proposal.
    const again = new ApprovalLedger(dir).get('t1')
    assert.deepEqual(again?.vote, vote)
    assert.equal(again?.proposalHash, proposalHash(tx))
    assert.equal(again?.proposal.unsignedTx, '0200')
    assert.equal(statSync(path.join(dir, 't1.json')).mode & 0o777, 0o600)
    assert.deepEqual(readdirSync(dir), ['t1.json'], 'no temporary file left behind')
  })

  it('recording the same vote again is idempotent; a second, different vote on the same transaction is refused', () => {
    const ledger = new ApprovalLedger(fresh())
    const tx = record('t2', '0200')
    ledger.recordVote(tx, voteOn(tx))
    assert.doesNotThrow(() => ledger.recordVote(tx, voteOn(tx)))
    assert.throws(() => ledger.recordVote(tx, voteOn(tx, false)), LedgerConflictError)
  })

  it('a second proposal under the same id (rewritten in etcd) gets no vote: the first one stands', () => {
    const dir = fresh()
    const first = record('t3', '0200')
    new ApprovalLedger(dir).recordVote(first, voteOn(first))
    const second = record('t3', '0201ff')
    assert.throws(
      () => new ApprovalLedger(dir).recordVote(second, voteOn(second)),
      (err: unknown) => err instanceof LedgerConflictError && err.code === 'PROPOSAL_CHANGED',
    )
    assert.equal(new ApprovalLedger(dir).get('t3')?.proposalHash, proposalHash(first))
  })

  it('a vote that is not about the proposal given is refused', () => {
    const ledger = new ApprovalLedger(fresh())
    const tx = record('t4', '0200')
    assert.throws(() => ledger.recordVote(tx, voteOn(record('t4', '0300'))))
    assert.equal(ledger.get('t4'), null)
  })

  it('a signing attempt is started once, across restarts; a finished transaction stays finished', () => {
    const dir = fresh()
    const tx = record('t5', '0200')
    const ledger = new ApprovalLedger(dir)
    ledger.recordVote(tx, voteOn(tx))
    assert.equal(ledger.startAttempt('t5', 1), true)
    assert.equal(new ApprovalLedger(dir).startAttempt('t5', 1), false, 'after a restart the attempt is known')
    assert.equal(new ApprovalLedger(dir).startAttempt('t5', 2), true)
    new ApprovalLedger(dir).markFinished('t5', 'confirmed')
    assert.equal(new ApprovalLedger(dir).get('t5')?.finished, true)
    assert.deepEqual(new ApprovalLedger(dir).get('t5')?.attempts, [1, 2])
  })

  it('the daily total is what this node approved in the last 24 h, read back after a restart; etcd cannot lower it', () => {
    const dir = fresh()
    const now = Date.now()
    const at = (msAgo: number) => new Date(now - msAgo).toISOString()
    const ledger = new ApprovalLedger(dir)
    const spend = (id: string, amount: number, msAgo: number, approve = true) => {
      const tx = { ...record(id, '0200'), amountSats: amount } as TxRecord
      const fixed = { ...tx, proposalHash: proposalHash(tx) } as TxRecord
      ledger.recordVote(fixed, voteOn(fixed, approve, at(msAgo)))
    }
    spend('d1', 1000, 3600_000)
    spend('d2', 2000, 2 * 3600_000)
    spend('d3', 4000, 30 * 3600_000) // older than a day
    spend('d4', 8000, 60_000, false) // rejected by this node
    spend('d5', 16_000, 60_000)
    spend('d6', 32_000, 60_000)
    const day = now - 24 * 3600_000
    assert.equal(ledger.approvedSince(day, 'none'), 1000 + 2000 + 16_000 + 32_000)
    assert.equal(ledger.approvedSince(day, 'd1'), 2000 + 16_000 + 32_000, 'the proposal being judged is not counted twice')
    // d5 was rejected by the cluster before anyone signed it: it sent nothing. d6 was signed by
    // this node and then marked failed: it may still confirm, so it still counts.
    ledger.markFinished('d5', 'rejected')
    ledger.startAttempt('d6', 1)
    ledger.markFinished('d6', 'failed')
    assert.equal(ledger.approvedSince(day, 'none'), 1000 + 2000 + 32_000)
    assert.equal(new ApprovalLedger(dir).approvedSince(day, 'none'), 1000 + 2000 + 32_000, 'after a restart')
  })

  it('ids that are not UUID-like never become paths of their own', () => {
    const dir = fresh()
    const tx = record('../../etc/x', '0200')
    new ApprovalLedger(dir).recordVote(tx, voteOn(tx))
    assert.equal(readdirSync(dir).length, 1)
    assert.match(readdirSync(dir)[0], /^[0-9a-f]{64}\.json$/)
    assert.equal(new ApprovalLedger(dir).get('../../etc/x')?.txId, '../../etc/x')
  })

  it('a fee bump counts toward the daily limit only what it pays beyond what it replaces; approvedChain walks the bumps back', () => {
    const dir = fresh()
    const now = new Date().toISOString()
    const ledger = new ApprovalLedger(dir)
    const original = { ...record('r1', '0200'), amountSats: 40_000 } as TxRecord
    const bump = { ...record('r2', '0201'), amountSats: 40_000, replacement: { of: 'r1', kind: 'bump' as const } } as TxRecord
    const cancel = { ...record('r3', '0202'), amountSats: 0, replacement: { of: 'r2', kind: 'cancel' as const } } as TxRecord
    for (const tx of [original, bump, cancel]) ledger.recordVote(tx, voteOn(tx, true, now))
    assert.equal(ledger.approvedSince(Date.now() - 3600_000, 'none'), 40_000, 'the payment once, not three times')
    assert.equal(new ApprovalLedger(dir).approvedSince(Date.now() - 3600_000, 'none'), 40_000, 'and so after a restart')
    assert.deepEqual(
      ledger.approvedChain('r3').map((e) => e.txId),
      ['r3', 'r2', 'r1'],
    )
    // A transaction this node rejected is no link of the chain.
    const refused = { ...record('r4', '0203'), replacement: { of: 'r1', kind: 'bump' as const } } as TxRecord
    ledger.recordVote(refused, voteOn(refused, false, now))
    assert.deepEqual(ledger.approvedChain('r4'), [])
  })
})
