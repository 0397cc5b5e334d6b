import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { EtcdEntry } from '../cluster/etcd.repository'
import { FakeEtcd } from '../testing/fake-etcd'
import { TxView } from './tx-view'
import { WalletKeys, type TxRecord } from './wallet.types'

// The watch-fed view of the transaction records: what it serves without asking etcd, and
// when it asks etcd again.

const rec = (id: string, state: TxRecord['state']) => ({ id, state }) as TxRecord

/** A record as the proposer writes it: with its `/tw/tx-active/` index entry, in one transaction. */
const propose = (etcd: FakeEtcd, id: string) =>
  etcd.atomic({
    absent: [WalletKeys.tx(id)],
    puts: [
      [WalletKeys.tx(id), rec(id, 'voting')],
      [WalletKeys.active(id), { createdAt: 'x' }],
    ],
  })
/** A state the leader writes (a terminal one deletes the index entry in the same transaction). */
const advance = (etcd: FakeEtcd, id: string, state: TxRecord['state']) =>
  etcd.fencedTxn(etcd.term, { puts: [[WalletKeys.tx(id), rec(id, state)]], deletes: ['confirmed', 'failed'].includes(state) ? [WalletKeys.active(id)] : [] })

function setup(resyncMs = 30_000) {
  const etcd = new FakeEtcd()
  let clock = 0
  const view = new TxView(etcd, resyncMs, () => clock)
  let gets = 0
  const readOne = (id: string) => {
    gets++
    return etcd.get<TxRecord>(WalletKeys.tx(id))
  }
  const unfinished = async () => (await view.unfinished(() => Promise.reject(new Error('not without a watch')), readOne)).map((e) => `${e.value.id}:${e.value.state}`).sort()
  return { etcd, view, unfinished, gets: () => gets, tick: (ms: number) => (clock += ms) }
}

describe('TxView', () => {
  it('reads each record once, then follows the watch: new, advanced and finished records without another read', async () => {
    const { etcd, view, unfinished, gets } = setup()
    await propose(etcd, 'a')
    assert.deepEqual(await unfinished(), ['a:voting'])
    assert.equal(gets(), 1)
    await propose(etcd, 'b')
    await advance(etcd, 'a', 'signing')
    assert.deepEqual(await unfinished(), ['a:signing', 'b:voting'])
    await advance(etcd, 'a', 'confirmed')
    assert.deepEqual(await unfinished(), ['b:voting'])
    assert.equal(gets(), 1)
    // A finished record stays at hand for one more look, until etcd deletes it.
    assert.equal(view.latest('a')?.value.state, 'confirmed')
    await etcd.delete(WalletKeys.tx('a'))
    assert.equal(view.latest('a'), null)
  })

  it('follows only what the index names: a finished record rewritten in etcd to an unfinished state is not active again', async () => {
    const { etcd, view, unfinished } = setup()
    await propose(etcd, 'a')
    await advance(etcd, 'a', 'confirmed')
    assert.deepEqual(await unfinished(), [])
    // A compromised node puts the record back to signing (no index entry: only the leader writes those).
    await etcd.put(WalletKeys.tx('a'), rec('a', 'signing'))
    assert.deepEqual(await unfinished(), [])
    // Its loops still see the record itself when a watch event names it.
    assert.equal(view.latest('a')?.value.state, 'signing')
  })

  it('never goes back to an older revision (a read that raced a newer watch event)', async () => {
    const { etcd, view, unfinished } = setup()
    await propose(etcd, 'a')
    const old = (await etcd.get<TxRecord>(WalletKeys.tx('a')))!
    await unfinished()
    await advance(etcd, 'a', 'approved')
    view.observe(old)
    assert.deepEqual(await unfinished(), ['a:approved'])
  })

  it('reads the records again after the resync interval: a change the watch missed is caught there', async () => {
    const { etcd, unfinished, gets, tick } = setup(30_000)
    await propose(etcd, 'a')
    await unfinished()
    etcd.muted = true
    await advance(etcd, 'a', 'signing')
    await propose(etcd, 'c')
    etcd.muted = false
    assert.deepEqual(await unfinished(), ['a:voting'])
    tick(30_000)
    assert.deepEqual(await unfinished(), ['a:signing', 'c:voting'])
    assert.equal(gets(), 3)
  })

  it('a listener is called after the view holds the change that called it, for the record and for its index entry', async () => {
    const { etcd, view, unfinished } = setup()
    await unfinished() // starts the index watch
    const seen: string[] = []
    assert.equal(await view.subscribe((id) => seen.push(`${id}:${view.latest(id)?.value.state ?? 'gone'}`)), true)
    await propose(etcd, 'a')
    await advance(etcd, 'a', 'failed')
    await etcd.delete(WalletKeys.tx('a'))
    assert.deepEqual(seen, ['a:voting', 'a:voting', 'a:failed', 'a:failed', 'a:gone'])
  })

  it('without a watch, every call reads etcd', async () => {
    const etcd = new FakeEtcd()
    etcd.watchPrefix = () => Promise.reject(new Error('etcd unreachable'))
    const view = new TxView(etcd, 30_000)
    await propose(etcd, 'a')
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
    const { etcd, view, unfinished } = setup()
    await unfinished()
    await etcd.put(WalletKeys.tx('x'), { not: 'a record' })
    await etcd.put(WalletKeys.tx('y'), rec('z', 'voting'))
    assert.equal(view.latest('x'), null)
    assert.equal(view.latest('z'), null)
    assert.equal(view.latest('y'), null)
    view.observe({ key: WalletKeys.tx('q'), value: rec('q', 'voting'), createRevision: '1', modRevision: '1', lease: '0' } as EtcdEntry<TxRecord>)
    assert.equal(view.latest('q')?.value.state, 'voting')
  })
})
