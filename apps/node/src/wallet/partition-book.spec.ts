import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PartitionBook } from './partition-book'

// Per-node values kept from the partition watch's events: read once, then kept by the events.

type V = { nodeId: number; v: string }

function setup() {
  let clock = 0
  const book = new PartitionBook<V>(
    10_000,
    (x) => x?.nodeId,
    () => clock,
  )
  let loads = 0
  const inEtcd: V[] = []
  const load = async () => {
    loads++
    return [...inEtcd]
  }
  const values = async (subject = 'tx1') => (await book.values(subject, load)).map((x) => `${x.nodeId}:${x.v}`)
  return { book, inEtcd, values, loads: () => loads, tick: (ms: number) => (clock += ms) }
}

describe('PartitionBook', () => {
  it('reads a subject once, then follows its events: new, rewritten and deleted values, in node order', async () => {
    const { book, inEtcd, values, loads } = setup()
    inEtcd.push({ nodeId: 3, v: 'a' })
    assert.deepEqual(await values(), ['3:a'])
    book.changed('tx1', 1, { nodeId: 1, v: 'b' })
    book.changed('tx1', 3, { nodeId: 3, v: 'c' })
    assert.deepEqual(await values(), ['1:b', '3:c'])
    book.changed('tx1', 1, null)
    assert.deepEqual(await values(), ['3:c'])
    assert.equal(loads(), 1)
  })

  it('a value that names another node than the partition holding it does not count', async () => {
    const { book, values } = setup()
    await values()
    book.changed('tx1', 2, { nodeId: 4, v: 'forged' })
    assert.deepEqual(await values(), [])
  })

  it('an event about a subject not read yet is left to its first read', async () => {
    const { book, inEtcd, values } = setup()
    book.changed('tx1', 2, { nodeId: 2, v: 'early' })
    inEtcd.push({ nodeId: 2, v: 'early' })
    assert.deepEqual(await values(), ['2:early'])
  })

  it('reads again after the resync interval (an event lost), and forgets what it is told to', async () => {
    const { book, inEtcd, values, loads, tick } = setup()
    await values()
    inEtcd.push({ nodeId: 5, v: 'missed' })
    assert.deepEqual(await values(), [])
    tick(10_001)
    assert.deepEqual(await values(), ['5:missed'])
    book.retain((s) => s !== 'tx1')
    await values()
    assert.equal(loads(), 3)
  })

  it('keeps a value delivered while its first read is in flight', async () => {
    const book = new PartitionBook<V>(10_000, (x) => x?.nodeId)
    const got = await book.values('tx1', async () => {
      book.changed('tx1', 2, { nodeId: 2, v: 'during' })
      return [{ nodeId: 2, v: 'stale' }]
    })
    assert.deepEqual(got, [{ nodeId: 2, v: 'during' }])
  })
})
