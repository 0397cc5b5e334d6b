import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startEtcdCluster, type EtcdCluster } from '../testing/etcd'
import { until } from '../testing/until'
import { EtcdKeys, EtcdRepository } from './etcd.repository'
import { LeaderElector } from './leader-elector'

interface Candidate {
  nodeId: number
  etcd: EtcdRepository
  elector: LeaderElector
}

describe('leader election over a 3-member etcd cluster', () => {
  let cluster: EtcdCluster
  const candidates: Candidate[] = []

  before(async () => {
    cluster = await startEtcdCluster(3)
    for (const nodeId of [1, 2, 3]) {
      const etcd = new EtcdRepository({ endpoints: cluster.endpoints, leaseTtlSeconds: 2 })
      await etcd.startSession()
      candidates.push({ nodeId, etcd, elector: new LeaderElector(etcd, { nodeId, apiUrl: `http://127.0.0.1:${8080 + nodeId}` }) })
    }
  })
  after(async () => {
    for (const c of candidates) await c.etcd.close()
    await cluster?.stop()
  })

  const stepAll = (cs: Candidate[]) => Promise.all(cs.map((c) => c.elector.step()))

  it('lists the three members', async () => {
    const members = await candidates[0].etcd.members()
    assert.deepEqual(members.map((m) => m.name).sort(), ['etcd0', 'etcd1', 'etcd2'])
  })

  it('elects exactly one leader that all agree on, with a fencing token', async () => {
    await stepAll(candidates)
    await stepAll(candidates)
    const leaders = candidates.filter((c) => c.elector.isLeader)
    assert.equal(leaders.length, 1)
    const term = leaders[0].elector.term!
    assert.match(term, /^\d+$/)
    for (const c of candidates) assert.equal(c.elector.leader?.term, term)
    assert.equal(await leaders[0].etcd.fencedPut(term, '/tw/test/x', { by: leaders[0].nodeId }), true)
  })

  it('a revoked (closed) leader is replaced within seconds', async () => {
    const old = candidates.find((c) => c.elector.isLeader)!
    const oldTerm = old.elector.term!
    await old.etcd.revokeSession()
    const rest = candidates.filter((c) => c !== old)
    const next = await until('a new leader', 10_000, async () => {
      await stepAll(rest)
      return rest.find((c) => c.elector.isLeader)
    })
    assert.notEqual(next.elector.term, oldTerm)
    for (const c of rest) assert.equal(c.elector.leader?.nodeId, next.nodeId)
    // The old leader comes back with a new session: it follows, and its old token is useless.
    await old.etcd.startSession()
    await old.elector.step()
    assert.equal(old.elector.isLeader, false)
    assert.equal(old.elector.leader?.nodeId, next.nodeId)
    assert.equal(await old.etcd.fencedPut(oldTerm, '/tw/test/x', { by: old.nodeId, stale: true }), false)
  })

  it("a frozen leader's lease expires, and its late write with the old token is refused", async () => {
    const frozen = candidates.find((c) => c.elector.isLeader)!
    const staleTerm = frozen.elector.term!
    frozen.etcd.abandonSession() // stops keep-alives without revoking, like a paused process
    const rest = candidates.filter((c) => c !== frozen)
    const next = await until('a leader after lease expiry', 15_000, async () => {
      await stepAll(rest)
      return rest.find((c) => c.elector.isLeader)
    })
    const newTerm = next.elector.term!
    assert.ok(BigInt(newTerm) > BigInt(staleTerm))
    // The frozen process wakes up and, still believing it leads, writes with its old token.
    assert.equal(await frozen.etcd.fencedPut(staleTerm, '/tw/test/x', { by: frozen.nodeId, stale: true }), false)
    assert.equal(await frozen.etcd.fencedPut(staleTerm, '/tw/test/new-key', { stale: true }, { ifAbsent: true }), false)
    assert.equal(await next.etcd.fencedPut(newTerm, '/tw/test/x', { by: next.nodeId }), true)
    const x = await next.etcd.get<{ by: number; stale?: boolean }>('/tw/test/x')
    assert.deepEqual(x?.value, { by: next.nodeId })
    assert.equal(await next.etcd.get('/tw/test/new-key'), null)
    await frozen.etcd.startSession()
  })

  it('survives losing one etcd member', async () => {
    const leader = candidates.find((c) => c.elector.isLeader)!
    await cluster.members[0].stop()
    const ok = await until('a fenced write with 2 of 3 members', 15_000, async () => leader.etcd.fencedPut(leader.elector.term!, '/tw/test/y', { ok: true }))
    assert.equal(ok, true)
    const leaderKey = await until('leader read', 10_000, () => candidates[1].etcd.get(EtcdKeys.leader))
    assert.ok(leaderKey)
  })
})
