import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BoundedMap, BoundedSet } from './bounded'

describe('BoundedMap / BoundedSet', () => {
  it('never hold more than max entries; the oldest goes first; setting a key again refreshes it', () => {
    const m = new BoundedMap<number, string>(3)
    for (let i = 0; i < 10_000; i++) m.set(i, String(i))
    assert.equal(m.size, 3)
    assert.deepEqual([...m.keys()], [9997, 9998, 9999])
    m.set(9997, 'again')
    m.set(1, 'one')
    assert.deepEqual([...m.keys()], [9999, 9997, 1])
    const s = new BoundedSet<string>(2)
    s.add('a').add('b').add('a').add('c')
    assert.deepEqual([...s], ['a', 'c'])
    assert.throws(() => new BoundedSet(0), RangeError)
  })
})
