import assert from 'node:assert/strict'
import { beforeEach, describe, it } from 'node:test'
import type { AppConfig } from '../config/config'
import { EtcdKeys } from '../cluster/etcd.repository'
import { MetricsService } from '../metrics/metrics.service'
import { FakeEtcd } from '../testing/fake-etcd'
import { fakeIdentity, signAs } from '../testing/fake-identity'
import { WalletKeys, type PresigRecord } from '../wallet/wallet.types'
import { decideRefresh, RefreshKeys, unsigned, type RefreshCommitRecord, type RefreshJobRecord, type RefreshResultRecord } from './key-refresh'
import { KeyRefreshService } from './key-refresh.service'
import type { KeyRecord } from './dkg.types'

const KEY = 'schnorr-k1'
const FP = 'ab'.repeat(32)
const config = { nodeId: 1, clusterSize: 5, threshold: 4, insecureTestPrimes: true } as unknown as AppConfig

/** The engine as the refresh service drives it: what it was asked, in order. */
class FakeEngine {
  calls: string[] = []
  paused = new Set<string>()
  pausedForS() {
    return this.paused.size ? 1 : 0
  }
  isPaused(keyId: string) {
    return this.paused.has(keyId)
  }
  fingerprint = FP
  refreshFails: Error | null = null
  isStarted = true
  keyInfo(_protocol: string, keyId: string) {
    return keyId === KEY ? { publicKey: '02' + '11'.repeat(32), chainCode: '22'.repeat(32) } : null
  }
  hasAuxInfo() {
    return true
  }
  async refreshKey(sessionId: string, keyId: string) {
    this.calls.push(`refresh ${keyId} ${sessionId}`)
    if (this.refreshFails) throw this.refreshFails
    return this.fingerprint
  }
  commitRefresh(keyId: string, fp: string) {
    this.calls.push(`commit ${keyId} ${fp}`)
  }
  discardRefresh(keyId: string) {
    this.calls.push(`discard ${keyId}`)
    return true
  }
  pauseKey(keyId: string) {
    this.paused.add(keyId)
  }
  resumeKey(keyId: string) {
    this.paused.delete(keyId)
  }
}

function job(requestedBy = 2): RefreshJobRecord {
  const body: Omit<RefreshJobRecord, 'signature'> = {
    jobId: 'refresh-1',
    keyId: KEY,
    protocol: 'schnorr',
    sessionId: 'refresh-1.refresh',
    auxSessionId: null,
    auxId: null,
    requestedBy,
    requestedAt: '2026-01-01T00:00:00.000Z',
  }
  return { ...body, signature: signAs(requestedBy, body) }
}

function result(nodeId: number, ok = true, fingerprint: string | null = FP, signer = nodeId): RefreshResultRecord {
  const body: Omit<RefreshResultRecord, 'signature'> = {
    nodeId,
    jobId: 'refresh-1',
    keyId: KEY,
    ok,
    fingerprint: ok ? fingerprint : null,
    code: ok ? null : 'TIMEOUT',
    error: ok ? null : 'session timed out',
    reportedAt: '2026-01-01T00:00:01.000Z',
  }
  return { ...body, signature: signAs(signer, body) }
}

describe('share refresh: the decision', () => {
  it('waits for every node, fails on any failure or disagreement, commits on agreement, is done with every commit', () => {
    const ok = [1, 2, 3, 4, 5].map((n) => result(n))
    assert.deepEqual(decideRefresh(5, ok.slice(0, 4), []), { kind: 'wait', reported: [1, 2, 3, 4] })
    assert.equal(decideRefresh(5, [...ok.slice(0, 4), result(5, false)], []).kind, 'failed')
    assert.equal(decideRefresh(5, [...ok.slice(0, 4), result(5, true, 'cd'.repeat(32))], []).kind, 'failed')
    assert.deepEqual(decideRefresh(5, ok, []), { kind: 'commit', fingerprint: FP, committed: [], done: false, results: ok })
    const commits = [3, 1, 2, 4, 5].map((n) => ({ nodeId: n, fingerprint: FP }) as RefreshCommitRecord)
    assert.deepEqual(decideRefresh(5, ok, commits), { kind: 'commit', fingerprint: FP, committed: [1, 2, 3, 4, 5], done: true, results: ok })
  })
})

describe('share refresh: one node', () => {
  let etcd: FakeEtcd
  let engine: FakeEngine
  let svc: KeyRefreshService
  const leaderTerm: { term: string | null } = { term: null }

  beforeEach(async () => {
    etcd = new FakeEtcd()
    engine = new FakeEngine()
    leaderTerm.term = null
    const cluster = {
      upNodes: () => [1, 2, 3, 4, 5],
      get leaderTerm() {
        return leaderTerm.term
      },
    }
    svc = new KeyRefreshService(
      config,
      etcd as never,
      cluster as never,
      engine as never,
      fakeIdentity(1) as never,
      { record: async () => undefined } as never,
      { ensureOne: async () => undefined, kick: () => undefined } as never,
      new MetricsService(config),
    )
    const key: KeyRecord = {
      keyId: KEY,
      jobId: 'j',
      protocol: 'schnorr',
      status: 'active',
      publicKey: '02' + '11'.repeat(32),
      chainCode: '22'.repeat(32),
      outputKey: '33'.repeat(32),
      reportedBy: [1, 2, 3, 4, 5],
      createdAt: '2026-01-01T00:00:00.000Z',
      activatedAt: '2026-01-01T00:00:00.000Z',
      error: null,
    }
    await etcd.put(EtcdKeys.key(KEY), key)
  })

  /** One pass of the node; waits for a refresh session it started. */
  async function step(): Promise<void> {
    await (svc as unknown as { step(): Promise<void> }).step()
    const running = (svc as unknown as { running: Map<string, Promise<void>> }).running
    await Promise.all(running.values())
  }

  it('runs a signed job once, pauses the key, reports a signed result, commits when all agree, resumes when all switched', async () => {
    await etcd.put(RefreshKeys.job(KEY), job())
    await step()
    assert.deepEqual(engine.calls, [`refresh ${KEY} refresh-1.refresh`])
    assert.ok(engine.paused.has(KEY), 'no signing with the key while the refresh runs')
    const mine = etcd.value<RefreshResultRecord>(RefreshKeys.result('refresh-1', 1))!
    assert.equal(mine.ok, true)
    assert.equal(mine.fingerprint, FP)
    assert.equal(mine.signature, signAs(1, unsigned(mine)))

    for (const n of [2, 3, 4]) await etcd.put(RefreshKeys.result('refresh-1', n), result(n))
    await step()
    assert.equal(engine.calls.filter((c) => c.startsWith('commit')).length, 0, 'node 5 has not reported: nothing switches')
    await etcd.put(RefreshKeys.result('refresh-1', 5), result(5))
    await step()
    assert.deepEqual(engine.calls.slice(1), [`commit ${KEY} ${FP}`])
    const commit = etcd.value<RefreshCommitRecord>(RefreshKeys.commit('refresh-1', 1))!
    assert.equal(commit.fingerprint, FP)
    assert.equal(commit.results.length, 5, 'the commit carries every signed result as evidence')
    assert.ok(engine.paused.has(KEY), 'still paused until every node switched')

    for (const n of [2, 3, 4, 5]) {
      const body = { nodeId: n, jobId: 'refresh-1', keyId: KEY, fingerprint: FP, committedAt: 'x', results: commit.results }
      await etcd.put(RefreshKeys.commit('refresh-1', n), { ...body, signature: signAs(n, body) })
    }
    leaderTerm.term = etcd.term
    const presig: PresigRecord = { id: 'p1', keyId: KEY, path: [0, 0], signers: [1, 2, 3, 4], status: 'ready', txId: null, createdAt: 'x', term: '1' }
    await etcd.put(WalletKeys.presig('p1'), presig)
    await step()
    assert.ok(!engine.paused.has(KEY), 'signing resumes once every node signs with its new share')
    assert.equal(etcd.value<PresigRecord>(WalletKeys.presig('p1'))!.status, 'burned', 'the leader burns the presignatures of the old shares')
    assert.equal(engine.calls.filter((c) => c.startsWith('refresh')).length, 1, 'the session ran once')
    assert.equal((await svc.status(KEY)).state, 'done')
  })

  it('a node that switched resumes after the grace though another never switches; one that cannot switch stays paused', async () => {
    await etcd.put(RefreshKeys.job(KEY), job())
    await step()
    for (const n of [2, 3, 4, 5]) await etcd.put(RefreshKeys.result('refresh-1', n), result(n))
    await step()
    assert.ok(engine.paused.has(KEY), 'within the grace: the others are about to switch')
    ;(svc as unknown as { stragglerGraceMs: number }).stragglerGraceMs = 0
    await step()
    assert.ok(!engine.paused.has(KEY), 'node 5 never switched: this node signs without it')
    assert.equal((await svc.status(KEY)).state, 'committing')

    // A node whose commit fails (its pending share lost) keeps the key paused.
    const stuck = new FakeEngine()
    stuck.commitRefresh = () => {
      throw Object.assign(new Error('no refreshed share of key with this fingerprint'), { code: 'NOT_FOUND' })
    }
    const other = new KeyRefreshService(
      { ...config, nodeId: 2 } as AppConfig,
      etcd as never,
      { upNodes: () => [1, 2, 3, 4, 5], leaderTerm: null } as never,
      stuck as never,
      fakeIdentity(2) as never,
      { record: async () => undefined } as never,
      {} as never,
      new MetricsService({ ...config, nodeId: 2 } as AppConfig),
    )
    ;(other as unknown as { stragglerGraceMs: number }).stragglerGraceMs = 0
    await (other as unknown as { step(): Promise<void> }).step()
    assert.ok(stuck.paused.has(KEY), 'it refuses every session of the key until it switches')
    assert.equal(etcd.value(RefreshKeys.commit('refresh-1', 2)), undefined)
  })

  it('a result not signed by its node does not count', async () => {
    await etcd.put(RefreshKeys.job(KEY), job())
    await step()
    for (const n of [2, 3, 4]) await etcd.put(RefreshKeys.result('refresh-1', n), result(n))
    await etcd.put(RefreshKeys.result('refresh-1', 5), result(5, true, FP, 3)) // written by node 3 as node 5
    await step()
    assert.equal(engine.calls.filter((c) => c.startsWith('commit')).length, 0)
    assert.deepEqual(await svc.status(KEY).then((s) => [s.state, s.reportedBy]), ['running', [1, 2, 3, 4]])
  })

  it('a node that rewrites its result after another switched cannot make a later node drop its new share', async () => {
    await etcd.put(RefreshKeys.job(KEY), job())
    await etcd.put(RefreshKeys.result('refresh-1', 1), result(1))
    const all = [1, 2, 3, 4, 5].map((n) => result(n))
    for (const n of [2, 3, 4, 5]) await etcd.put(RefreshKeys.result('refresh-1', n), all[n - 1])
    // Node 2 switched with every signed success as evidence; then node 5 reports failure instead.
    const body = { nodeId: 2, jobId: 'refresh-1', keyId: KEY, fingerprint: FP, committedAt: 'x', results: all }
    await etcd.put(RefreshKeys.commit('refresh-1', 2), { ...body, signature: signAs(2, body) })
    await etcd.put(RefreshKeys.result('refresh-1', 5), result(5, false))
    await step()
    assert.deepEqual(engine.calls, [`commit ${KEY} ${FP}`], 'node 1 switches too, from the evidence')
  })

  it('a failure anywhere drops the pending share and resumes signing; a new refresh may then be filed', async () => {
    await etcd.put(RefreshKeys.job(KEY), job())
    await step()
    await etcd.put(RefreshKeys.result('refresh-1', 3), result(3, false))
    await step()
    assert.ok(engine.calls.includes(`discard ${KEY}`))
    assert.ok(!engine.paused.has(KEY))
    const s = await svc.status(KEY)
    assert.equal(s.state, 'failed')
    assert.match(s.error ?? '', /node 3: TIMEOUT/)
    const again = await svc.request(KEY)
    assert.notEqual(again.jobId, 'refresh-1')
    assert.equal(again.state, 'running')
  })

  it('a job no node signed is never run; a second request while one runs is refused', async () => {
    await etcd.put(RefreshKeys.job(KEY), { ...job(), signature: signAs(3, unsigned(job())) }) // names node 2, signed by 3
    await step()
    assert.deepEqual(engine.calls, [])
    assert.ok(!engine.paused.has(KEY))
    await etcd.delete(RefreshKeys.job(KEY))
    const filed = await svc.request(KEY)
    assert.equal(etcd.value<RefreshJobRecord>(RefreshKeys.job(KEY))!.signature, signAs(1, unsigned(etcd.value<RefreshJobRecord>(RefreshKeys.job(KEY))!)))
    await assert.rejects(svc.request(KEY), (e: Error & { code?: string }) => e.code === 'CONFLICT' && e.message.includes(filed.jobId))
  })
})
