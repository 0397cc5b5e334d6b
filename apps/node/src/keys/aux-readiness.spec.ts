import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { auxReadiness } from './dkg-coordinator.service'

// The leader starts an aux info generation only when auxReadiness(...).ready: every node up
// and reporting safe primes ready (/tw/primes/<id>). A node still generating primes would
// otherwise join the session minutes late and time it out for everyone.
describe('aux info readiness (leader decision)', () => {
  const all = [1, 2, 3, 4, 5]

  it('starts when all n nodes are up and report primes ready', () => {
    assert.deepEqual(auxReadiness(5, all, all), { ready: true, down: [], primesNotReady: [] })
  })

  it('waits while any node is still generating primes', () => {
    const r = auxReadiness(5, all, [1, 2, 4, 5])
    assert.equal(r.ready, false)
    assert.deepEqual(r.primesNotReady, [3])
    assert.deepEqual(r.down, [])
    assert.equal(auxReadiness(5, all, []).ready, false)
  })

  it('waits while any node is down, even if the others are ready', () => {
    const r = auxReadiness(5, [1, 2, 3, 5], [1, 2, 3, 5])
    assert.equal(r.ready, false)
    assert.deepEqual(r.down, [4])
    assert.deepEqual(r.primesNotReady, [])
  })

  it('a readiness report without a live session does not count (down wins)', () => {
    const r = auxReadiness(5, [1, 2, 3, 4], all)
    assert.equal(r.ready, false)
    assert.deepEqual(r.down, [5])
  })

  it('goes from waiting to ready as the last node finishes its primes', () => {
    const reports: number[] = [1, 2, 5]
    const decisions: boolean[] = []
    for (const next of [3, 4]) {
      decisions.push(auxReadiness(5, all, reports).ready)
      reports.push(next)
    }
    decisions.push(auxReadiness(5, all, reports).ready)
    assert.deepEqual(decisions, [false, false, true])
  })

  it('ignores ids outside 1..n', () => {
    assert.equal(auxReadiness(3, [1, 2, 3, 9], [1, 2, 9]).ready, false)
    assert.equal(auxReadiness(3, [1, 2, 3, 9], [1, 2, 3]).ready, true)
  })
})
