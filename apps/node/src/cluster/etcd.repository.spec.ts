import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { startEtcdCluster, type EtcdCluster } from '../testing/etcd'
import { etcdArea, etcdRequestCounter, EtcdRepository } from './etcd.repository'

describe('etcd request accounting', () => {
  it('names the key area of every key layout the node writes', () => {
    assert.equal(etcdArea('/tw/tx/0b1c'), 'tx')
    assert.equal(etcdArea('/tw/tx-active/0b1c'), 'tx-active')
    assert.equal(etcdArea('/tw/n/3/votes/0b1c'), 'n/votes')
    assert.equal(etcdArea('/tw/n/3/'), 'n')
    assert.equal(etcdArea('/tw/leader'), 'leader')
    assert.equal(etcdArea('/tw/presigs/'), 'presigs')
    assert.equal(etcdArea(''), 'other')
    assert.equal(etcdArea('/elsewhere/x'), 'other')
  })

  describe('against a real etcd member', () => {
    let cluster: EtcdCluster
    let etcd: EtcdRepository
    const registry = new Registry()
    const count = async (op: string, area: string) =>
      (await registry.getSingleMetric('mpc_etcd_requests_total')!.get()).values.find((v) => v.labels.op === op && v.labels.area === area)?.value ?? 0

    before(async () => {
      cluster = await startEtcdCluster(1)
      etcd = new EtcdRepository({ endpoints: cluster.endpoints, leaseTtlSeconds: 5, onRequest: etcdRequestCounter(registry) })
    })
    after(async () => {
      await etcd?.close()
      await cluster?.stop()
    })

    it('counts one request per round trip, by kind and key area', async () => {
      await etcd.put('/tw/tx/a', { n: 1 })
      assert.deepEqual((await etcd.get<{ n: number }>('/tw/tx/a'))?.value, { n: 1 })
      assert.equal(await etcd.get('/tw/tx/b'), null)
      await etcd.getPrefix('/tw/n/2/votes/')
      assert.equal(await etcd.atomic({ absent: ['/tw/utxo-locks/x:0'], puts: [['/tw/utxo-locks/x:0', { txId: 'a' }]] }), true)
      assert.equal(await count('put', 'tx'), 1)
      assert.equal(await count('get', 'tx'), 2)
      assert.equal(await count('range', 'n/votes'), 1)
      assert.equal(await count('txn', 'utxo-locks'), 1)
    })
  })
})
