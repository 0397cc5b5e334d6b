import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FakeEtcd } from '../testing/fake-etcd'
import { WatchedPrefix } from './watched-prefix'

// A prefix kept by its watch: what it serves without a range read, and when it reads again.

function setup(resyncMs = 30_000) {
  const etcd = new FakeEtcd()
  let ranges = 0
  const getPrefix = etcd.getPrefix.bind(etcd)
  etcd.getPrefix = (<T>(prefix: string) => {
    ranges++
    return getPrefix<T>(prefix)
  }) as typeof etcd.getPrefix
  let clock = 0
  const view = new WatchedPrefix<{ n: number }>(etcd, '/tw/presig/', resyncMs, () => clock)
  const values = async () => (await view.list()).map((e) => `${e.key.slice('/tw/presig/'.length)}=${e.value.n}`)
  return { etcd, view, values, ranges: () => ranges, tick: (ms: number) => (clock += ms) }
}

describe('WatchedPrefix', () => {
  it('reads the prefix once, then follows puts and deletes from the watch, in key order', async () => {
    const { etcd, values, ranges } = setup()
    await etcd.put('/tw/presig/b', { n: 1 })
    assert.deepEqual(await values(), ['b=1'])
    await etcd.put('/tw/presig/a', { n: 2 })
    await etcd.put('/tw/presig/b', { n: 3 })
    await etcd.put('/tw/other/c', { n: 4 })
    assert.deepEqual(await values(), ['a=2', 'b=3'])
    await etcd.delete('/tw/presig/a')
    assert.deepEqual(await values(), ['b=3'])
    assert.equal(ranges(), 1)
  })

  it('reads again after the resync interval, catching a change whose event was lost', async () => {
    const { etcd, values, ranges, tick } = setup(30_000)
    await etcd.put('/tw/presig/a', { n: 1 })
    await values()
    etcd.muted = true
    await etcd.put('/tw/presig/a', { n: 2 })
    await etcd.delete('/tw/presig/a')
    await etcd.put('/tw/presig/z', { n: 9 })
    etcd.muted = false
    assert.deepEqual(await values(), ['a=1'])
    tick(30_000)
    assert.deepEqual(await values(), ['z=9'])
    assert.equal(ranges(), 2)
  })

  it('keeps a change delivered while a resync read is in flight (it is newer than the read)', async () => {
    const { etcd, view, values, tick } = setup(30_000)
    await etcd.put('/tw/presig/a', { n: 1 })
    await etcd.put('/tw/presig/b', { n: 1 })
    await values()
    tick(30_000)
    const getPrefix = etcd.getPrefix.bind(etcd)
    etcd.getPrefix = (async <T>(prefix: string) => {
      const read = await getPrefix<T>(prefix)
      // Delivered after the read was answered, before it is applied.
      await etcd.put('/tw/presig/a', { n: 5 })
      await etcd.delete('/tw/presig/b')
      return read
    }) as typeof etcd.getPrefix
    assert.deepEqual(
      (await view.list()).map((e) => `${e.key.slice(-1)}=${(e.value as { n: number }).n}`),
      ['a=5'],
    )
  })

  it('without a watch, every call is a range read', async () => {
    const { etcd, values, ranges } = setup()
    etcd.watchPrefix = () => Promise.reject(new Error('etcd unreachable'))
    await etcd.put('/tw/presig/a', { n: 1 })
    await values()
    await values()
    assert.equal(ranges(), 2)
  })
})
