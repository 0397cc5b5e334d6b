import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { EtcdEntry } from '../cluster/etcd.repository'
import { FakeEtcd } from '../testing/fake-etcd'
import { TxView } from './tx-view'
import { WalletKeys, type TxRecord } from './wallet.types'

// The watch-fed view of the transaction records: what it serves without asking etcd, and
// when it asks etcd again.

const rec = (id: string, state: TxRecord['state']) => ({ id, state }) as TxRecord

function setup(resyncMs = 30_000) {
  const etcd = new FakeEtcd()
  let clock = 0
  const view = new TxView(etcd, resyncMs, () => clock)
  let reads = 0
  const readAll = async () => {
    reads++
    const all = await etcd.getPrefix<TxRecord>(WalletKeys.txs)
    return all.filter((e) => !['confirmed', 'rejected', 'failed', 'expired'].includes(e.value.state))
  }
  const readOne = (id: string) => etcd.get<TxRecord>(WalletKeys.tx(id))
  const unfinished = async () => (await view.unfinished(readAll, readOne)).map((e) => `${e.value.id}:${e.value.state}`).sort()
  return { etcd, view, unfinished, reads: () => reads, tick: (ms: number) => (clock += ms) }
}

describe('TxView', () => {
  it('reads etcd once, then follows the watch: new, advanced and finished records without another read', async () => {
    const { etcd, view, unfinished, reads } = setup()
    await etcd.put(WalletKeys.tx('a'), rec('a', 'voting'))
    assert.deepEqual(await unfinished(), ['a:voting'])
    assert.equal(reads(), 1)
    await etcd.put(WalletKeys.tx('b'), rec('b', 'voting'))
    await etcd.put(WalletKeys.tx('a'), rec('a', 'signing'))
    assert.deepEqual(await unfinished(), ['a:signing', 'b:voting'])
    await etcd.put(WalletKeys.tx('a'), rec('a', 'confirmed'))
    assert.deepEqual(await unfinished(), ['b:voting'])
    assert.equal(reads(), 1)
    // A finished record stays at hand for one more look, until etcd deletes it.
    assert.equal(view.latest('a')?.value.state, 'confirmed')
    await etcd.delete(WalletKeys.tx('a'))
    assert.equal(view.latest('a'), null)
  })

  it('never goes back to an older revision (a read that raced a newer watch event)', async () => {
    const { etcd, view, unfinished } = setup()
    await etcd.put(WalletKeys.tx('a'), rec('a', 'voting'))
    const old = (await etcd.get<TxRecord>(WalletKeys.tx('a')))!
    await unfinished()
    await etcd.put(WalletKeys.tx('a'), rec('a', 'approved'))
    view.observe(old)
    assert.deepEqual(await unfinished(), ['a:approved'])
  })

  it('reads etcd again after the resync interval: a change the watch missed is caught there', async () => {
    const { etcd, view, unfinished, reads, tick } = setup(30_000)
    await unfinished()
    // A record the view never heard of (its event lost), and one it holds that etcd no longer has.
    view.observe({ key: WalletKeys.tx('gone'), value: rec('gone', 'signing'), createRevision: '1', modRevision: '1', lease: '0' } as EtcdEntry<TxRecord>)
    etcd.muted = true
    await etcd.put(WalletKeys.tx('c'), rec('c', 'voting'))
    etcd.muted = false
    assert.deepEqual(await unfinished(), ['gone:signing'])
    tick(30_000)
    assert.deepEqual(await unfinished(), ['c:voting'])
    assert.equal(reads(), 2)
  })

  it('a listener is called after the view holds the change that called it', async () => {
    const { etcd, view } = setup()
    const seen: string[] = []
    assert.equal(await view.subscribe((id) => seen.push(`${id}:${view.latest(id)?.value.state ?? 'gone'}`)), true)
    await etcd.put(WalletKeys.tx('a'), rec('a', 'voting'))
    await etcd.put(WalletKeys.tx('a'), rec('a', 'failed'))
    await etcd.delete(WalletKeys.tx('a'))
    assert.deepEqual(seen, ['a:voting', 'a:failed', 'a:gone'])
  })

  it('without a watch, every call reads etcd', async () => {
    const etcd = new FakeEtcd()
    etcd.watchPrefix = () => Promise.reject(new Error('etcd unreachable'))
    const view = new TxView(etcd, 30_000)
    await etcd.put(WalletKeys.tx('a'), rec('a', 'voting'))
    let reads = 0
    const read = async () => {
      reads++
      return [(await etcd.get<TxRecord>(WalletKeys.tx('a')))!]
    }
    await view.unfinished(read, () => Promise.resolve(null))
    await view.unfinished(read, () => Promise.resolve(null))
    assert.equal(reads, 2)
  })

  it('ignores values that are not a record under their own key', async () => {
    const { etcd, unfinished } = setup()
    await unfinished()
    await etcd.put(WalletKeys.tx('x'), { not: 'a record' })
    await etcd.put(WalletKeys.tx('y'), rec('z', 'voting'))
    assert.deepEqual(await unfinished(), [])
  })
})
