import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as shared from '@tw/api'
import { canonicalJson } from '../common/canonical-json'
import { attemptBody, attemptFault } from '../wallet/leader-decision'
import type { SignedVote, SigningAttempt } from '../wallet/wallet.types'
import { isDoubleVote } from './byzantine.service'

// The CLI's offline `byzantine evidence verify` uses the pure checks in @tw/api
// (libs/api/src/evidence.ts). They must reach the node's verdicts exactly, or an operator
// would see "proven" where the nodes do not (or the other way round).

const vote = (nodeId: number, proposalHash = 'h1', txId = 't1', approve = true, sig = `s${nodeId}`): SignedVote => ({
  payload: { txId, proposalHash, nodeId, approve, reason: null, votedAt: '2026-01-01T00:00:00.000Z' },
  signature: sig,
})

const base = (approvals: SignedVote[], signers: number[], extra: Partial<SigningAttempt> = {}): SigningAttempt => ({
  txId: 't1', attempt: 1, signers, mode: 'full', presignatures: [null], createdAt: 'x', term: 'y', proposalHash: 'h1', leader: 2, approvals, signature: 'sig', ...extra,
})

test('@tw/api canonicalJson and attemptBody sign the same bytes as the node', () => {
  const values: unknown[] = [{ b: 1, a: [true, null, undefined], c: { z: 'é', y: undefined } }, [1, 'x', { k: new Date(0) }], 'plain', null, 3.5]
  for (const v of values) assert.equal(shared.canonicalJson(v), canonicalJson(v))
  const a = base([vote(1)], [1])
  assert.equal(shared.canonicalJson(shared.attemptBody(a)), canonicalJson(attemptBody(a)))
})

test('@tw/api isDoubleVote agrees with the node', () => {
  const cases: [SignedVote, SignedVote, number][] = [
    [vote(3, 'h1'), vote(3, 'h2'), 3],
    [vote(3, 'h1'), vote(3, 'h1', 't1', false), 3],
    [vote(3, 'h1'), vote(3, 'h1'), 3],
    [vote(3, 'h1', 't1'), vote(3, 'h2', 't2'), 3],
    [vote(3, 'h1'), vote(2, 'h2'), 3],
    [vote(3, 'h1'), vote(3, 'h2'), 2],
  ]
  for (const [a, b, o] of cases) assert.equal(shared.isDoubleVote(a, b, o), isDoubleVote(a, b, o), JSON.stringify([a.payload, b.payload, o]))
})

test('@tw/api attemptFault agrees with the node on valid and faulty attempts', async () => {
  const good = (v: SignedVote) => Promise.resolve(v.signature === `s${v.payload.nodeId}`)
  const attempts: SigningAttempt[] = [
    base([vote(1), vote(2), vote(3), vote(4)], [1, 2, 3, 4]),
    base([vote(1), vote(2), vote(3)], [1, 2, 3, 4]),
    base([vote(1), vote(2), vote(3), vote(4, 'h1', 't1', true, 'forged')], [1, 2, 3, 4]),
    base([vote(1), vote(2), vote(3), vote(4, 'h2')], [1, 2, 3, 4]),
    base([vote(1), vote(2), vote(3), vote(4, 'h1', 't2')], [1, 2, 3, 4]),
    base([vote(1), vote(2), vote(3), vote(4, 'h1', 't1', false)], [1, 2, 3, 4]),
    base([vote(1), vote(2), vote(3), vote(4)], [1, 2, 3, 5]),
    base([vote(1), vote(2), vote(3), vote(4)], [1, 2, 3]),
    base([vote(1), vote(2), vote(3), vote(4)], [1, 1, 2, 3]),
    base([vote(1), vote(1), vote(2), vote(3)], [1, 2, 3, 4]),
    base([vote(1), vote(2), vote(3), vote(4), vote(5)], [1, 2, 3, 4], { proposalHash: undefined }),
    base([], [1, 2, 3, 4], { approvals: undefined }),
  ]
  for (const a of attempts) {
    for (const threshold of [3, 4]) {
      assert.equal(await shared.attemptFault(a, threshold, good), await attemptFault(a, threshold, good), `${JSON.stringify(a.signers)} t=${threshold}`)
    }
  }
})
