import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { EtcdEntry } from '../cluster/etcd.repository'
import { allocate, rotate, signerSets } from '../wallet/decide'
import type { PresigRecord, SignedVote } from '../wallet/wallet.types'
import { isDoubleVote, provenBy, violationId } from './byzantine.service'

const vote = (nodeId: number, approve: boolean, proposalHash = 'h1', txId = 't1'): SignedVote => ({
  payload: { txId, proposalHash, nodeId, approve, reason: null, votedAt: '2026-11-24T00:00:00Z' },
  signature: 'sig',
})

describe('Byzantine evidence rules', () => {
  it('every observer derives the same violation id; type, offender and session all count', () => {
    assert.equal(violationId('invalid_signature', 5, 'tx.1'), violationId('invalid_signature', 5, 'tx.1'))
    assert.notEqual(violationId('invalid_signature', 5, 'tx.1'), violationId('invalid_signature', 4, 'tx.1'))
    assert.notEqual(violationId('invalid_signature', 5, 'tx.1'), violationId('invalid_signature', 5, 'tx.2'))
    assert.notEqual(violationId('invalid_signature', 5, 'tx.1'), violationId('double_vote', 5, 'tx.1'))
  })

  it('a double vote is two different votes by the offender on one transaction', () => {
    assert.equal(isDoubleVote(vote(3, true), vote(3, false), 3), true)
    assert.equal(isDoubleVote(vote(3, true, 'h1'), vote(3, true, 'h2'), 3), true)
    assert.equal(isDoubleVote(vote(3, true), vote(3, true), 3), false, 'the same vote twice is not equivocation')
    assert.equal(isDoubleVote(vote(3, true), vote(4, false), 3), false, 'votes of two nodes frame nobody')
    assert.equal(isDoubleVote(vote(3, true), vote(3, false, 'h1', 't2'), 3), false, 'votes on two transactions')
    assert.equal(isDoubleVote(vote(3, true), vote(3, false), 4), false, 'nobody else can be blamed for them')
  })

  it('a proof needs enough distinct accusers other than the offender: one node never bans another', () => {
    assert.deepEqual(provenBy([1, 1, 1, 1], 5, 3), { proven: false, accusers: [1] })
    assert.deepEqual(provenBy([5, 5, 1, 2], 5, 3), { proven: false, accusers: [1, 2] }, 'self-accusations do not count')
    assert.deepEqual(provenBy([2, 1, 3], 5, 3), { proven: true, accusers: [1, 2, 3] })
  })
})

describe('signer sets', () => {
  it('lists every t-subset and rotates deterministically per transaction', () => {
    assert.deepEqual(signerSets([1, 2, 3, 4, 5], 4), [
      [1, 2, 3, 4],
      [1, 2, 3, 5],
      [1, 2, 4, 5],
      [1, 3, 4, 5],
      [2, 3, 4, 5],
    ])
    assert.deepEqual(signerSets([1, 2, 3], 4), [])
    const sets = signerSets([1, 2, 3, 4, 5], 4)
    assert.deepEqual(rotate(sets, 'tx-a'), rotate(sets, 'tx-a'))
    const firsts = new Set(Array.from({ length: 50 }, (_, i) => rotate(sets, `tx-${i}`)[0].join(',')))
    assert.equal(firsts.size, 5, 'over many transactions every set leads, so every node signs')
  })

  it('allocates one distinct ready presignature per input for exactly the set and path', () => {
    const p = (id: string, signers: number[], path: number[]): EtcdEntry<PresigRecord> => ({
      key: `/tw/presig/${id}`,
      value: { id, keyId: 'k', path, signers, status: 'ready', txId: null, createdAt: '', term: '1' },
      createRevision: '1',
      modRevision: '1',
      lease: '0',
    })
    const ready = [p('a', [1, 2, 3, 4], [0, 0]), p('b', [1, 2, 3, 4], [0, 1]), p('c', [1, 2, 3, 5], [0, 0]), p('d', [1, 2, 3, 4], [0, 0])]
    const tx = { inputs: [{ path: [0, 0] }, { path: [0, 0] }, { path: [0, 1] }] } as never
    assert.deepEqual(
      allocate(tx, [1, 2, 3, 4], ready)?.map((e) => e.value.id),
      ['a', 'd', 'b'],
    )
    assert.equal(allocate(tx, [1, 2, 3, 5], ready), null, 'a set missing one input gets none')
    assert.equal(allocate({ inputs: [{ path: [0, 0] }] } as never, [1, 2, 3, 4], []), null)
  })
})
