import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { blame } from './signing-check'

describe('blame: who a failed attempt leaves out', () => {
  const signers = [1, 2, 3, 4]

  it('a culprit the other signers all name is out', () => {
    const failures = [1, 2, 3].map((nodeId) => ({ nodeId, culprits: [4] }))
    assert.deepEqual(blame(failures, signers), { corroborated: [4], loneAccusers: [] })
  })

  it('one insider naming honest nodes excludes only itself (its word alone excludes no one)', () => {
    // Node 4 names 1 and 2; the honest signers name nobody (their sessions failed because of 4).
    const failures = [{ nodeId: 4, culprits: [1, 2] }, ...[1, 2, 3].map((nodeId) => ({ nodeId, culprits: [] }))]
    assert.deepEqual(blame(failures, signers), { corroborated: [], loneAccusers: [4] })
  })

  it('the culprit naming its accusers back does not count, nor do names outside the signer set or oneself', () => {
    const failures = [
      { nodeId: 1, culprits: [4] },
      { nodeId: 2, culprits: [4, 5] },
      { nodeId: 4, culprits: [1, 4] },
    ]
    assert.deepEqual(blame(failures, signers), { corroborated: [4], loneAccusers: [] })
  })

  it("two honest reporters are enough; a lone, uncorroborated accusation next to them is its reporter's problem", () => {
    const failures = [
      { nodeId: 1, culprits: [3] },
      { nodeId: 2, culprits: [3] },
      { nodeId: 4, culprits: [1] },
    ]
    assert.deepEqual(blame(failures, signers), { corroborated: [3], loneAccusers: [4] })
  })
})
