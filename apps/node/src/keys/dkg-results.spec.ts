import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EtcdKeys } from '../cluster/etcd.repository'
import { FakeEtcd } from '../testing/fake-etcd'
import { decideKey } from './dkg-coordinator.service'
import { auxResults, dkgResults } from './dkg-results'
import type { DkgResultRecord, KeyRecord } from './dkg.types'

const ok = (nodeId: number, publicKey = '02aa'): DkgResultRecord => ({ nodeId, ok: true, publicKey, chainCode: 'cc', reportedAt: '2026-01-01T00:00:00Z' })
const pending: KeyRecord = {
  keyId: 'schnorr-j1',
  jobId: 'j1',
  protocol: 'schnorr',
  status: 'pending',
  publicKey: null,
  chainCode: null,
  outputKey: null,
  reportedBy: [],
  createdAt: '2026-01-01T00:00:00Z',
  activatedAt: null,
  error: null,
}

// Each node reports its DKG and aux info outcome in its own partition (/tw/n/<id>/…), which
// etcd's RBAC lets only that node write (etcd-acl.spec); the readers take one key per node.
describe('DKG and aux info results, one per node partition', () => {
  it('reads each node’s result from its own partition; the key activates when all five agree', async () => {
    const etcd = new FakeEtcd()
    for (const id of [1, 2, 3, 4, 5]) await etcd.put(EtcdKeys.dkgResult('j1', id), ok(id))
    const rs = await dkgResults(etcd, 'j1', 5)
    assert.deepEqual(
      rs.map((r) => r.nodeId),
      [1, 2, 3, 4, 5],
    )
    assert.equal(decideKey(pending, rs, 5)?.status, 'active')
  })

  it('a record naming another node than its partition’s is not that node’s word: dropped', async () => {
    const etcd = new FakeEtcd()
    for (const id of [1, 2, 3, 4]) await etcd.put(EtcdKeys.dkgResult('j1', id), ok(id))
    // Written into node 5's partition but claiming to be node 3's failure (and a second node-3 report).
    await etcd.put(EtcdKeys.dkgResult('j1', 5), { nodeId: 3, ok: false, code: 'FORGED', error: 'x', reportedAt: '2026-01-01T00:00:00Z' })
    const rs = await dkgResults(etcd, 'j1', 5)
    assert.deepEqual(
      rs.map((r) => r.nodeId),
      [1, 2, 3, 4],
    )
    assert.equal(decideKey(pending, rs, 5), null, 'still pending: node 5 has not reported')
  })

  it('results under the old shared prefix (/tw/dkg/<job>/result/<id>, /tw/aux/results/…) are not read', async () => {
    const etcd = new FakeEtcd()
    for (const id of [1, 2, 3, 4, 5]) await etcd.put(`/tw/dkg/j1/result/${id}`, { nodeId: id, ok: false, code: 'OLD', error: 'x', reportedAt: '2026-01-01T00:00:00Z' })
    await etcd.put('/tw/aux/results/aux-1/2', { nodeId: 2, ok: false, reportedAt: '2026-01-01T00:00:00Z' })
    assert.deepEqual(await dkgResults(etcd, 'j1', 5), [])
    assert.deepEqual(await auxResults(etcd, 'aux-1', 5), [])
    await etcd.put(EtcdKeys.auxResult('aux-1', 2), { nodeId: 2, ok: true, reportedAt: '2026-01-01T00:00:00Z' })
    assert.deepEqual(
      (await auxResults(etcd, 'aux-1', 5)).map((r) => [r.nodeId, r.ok]),
      [[2, true]],
    )
  })
})
