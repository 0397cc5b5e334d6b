import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { beforeEach, describe, it } from 'node:test'
import type { AppConfig } from '../config/config'
import { EtcdKeys } from '../cluster/etcd.repository'
import { MetricsService } from '../metrics/metrics.service'
import { unsigned } from '../common/signed'
import { FakeEtcd } from '../testing/fake-etcd'
import { fakeIdentity, signAs } from '../testing/fake-identity'
import { WalletKeys, type PresigRecord } from '../wallet/wallet.types'
import { decideRefresh, judgeRefresh, RefreshKeys, type RefreshCommitRecord, type RefreshJobRecord, type RefreshResultRecord, type RefreshVoteRecord } from './key-refresh'
import { KeyRefreshService } from './key-refresh.service'
import { RefreshVoteLedger } from './refresh-votes'
import type { KeyRecord } from './dkg.types'

const KEY = 'schnorr-k1'
const FP = 'ab'.repeat(32)
const config = { nodeId: 1, clusterSize: 5, threshold: 4, insecureTestPrimes: true, refresh: { minIntervalS: 600 } } as unknown as AppConfig

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

function vote(nodeId: number, approve = true, jobId = 'refresh-1'): RefreshVoteRecord {
  const body: Omit<RefreshVoteRecord, 'signature'> = {
    nodeId,
    jobId,
    keyId: KEY,
    approve,
    code: approve ? null : 'TOO_SOON',
    reason: approve ? null : 'the last refresh of the key was approved 12 s ago',
    votedAt: '2026-01-01T00:00:00.500Z',
  }
  return { ...body, signature: signAs(nodeId, body) }
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
  it('votes until every node approved, one rejection ends it; then waits for every result, fails on any failure or disagreement, commits on agreement, is done with every commit', () => {
    const yes = [1, 2, 3, 4, 5].map((n) => vote(n))
    assert.deepEqual(decideRefresh(5, yes.slice(0, 4), [], []), { kind: 'voting', approved: [1, 2, 3, 4] })
    const no = decideRefresh(5, [...yes.slice(0, 3), vote(4, false)], [], [])
    assert.equal(no.kind, 'rejected')
    assert.match(no.kind === 'rejected' ? no.reason : '', /^node 4: TOO_SOON: /)
    assert.deepEqual(decideRefresh(5, yes, [], []), { kind: 'approved', reported: [] })
    const ok = [1, 2, 3, 4, 5].map((n) => result(n))
    assert.deepEqual(decideRefresh(5, [], ok.slice(0, 4), []), { kind: 'approved', reported: [1, 2, 3, 4] }, 'once results are in, votes are not read again')
    assert.equal(decideRefresh(5, yes, [...ok.slice(0, 4), result(5, false)], []).kind, 'failed')
    assert.equal(decideRefresh(5, yes, [...ok.slice(0, 4), result(5, true, 'cd'.repeat(32))], []).kind, 'failed')
    assert.deepEqual(decideRefresh(5, yes, ok, []), { kind: 'commit', fingerprint: FP, committed: [], done: false, results: ok })
    const commits = [3, 1, 2, 4, 5].map((n) => ({ nodeId: n, fingerprint: FP }) as RefreshCommitRecord)
    assert.deepEqual(decideRefresh(5, yes, ok, commits), { kind: 'commit', fingerprint: FP, committed: [1, 2, 3, 4, 5], done: true, results: ok })
  })

  it('a node rejects a job filed by a banned node, for a key it does not hold, or too soon after the last refresh it approved', () => {
    const base = { job: { keyId: KEY, requestedBy: 2 }, bannedNodes: [], holdsKey: true, lastApprovedAt: null, now: 1_000_000, minIntervalS: 600 }
    assert.deepEqual(judgeRefresh(base), { approve: true })
    assert.equal(judgeRefresh({ ...base, bannedNodes: [2] }).approve ? null : 'REQUESTER_BANNED', 'REQUESTER_BANNED')
    const notHeld = judgeRefresh({ ...base, holdsKey: false })
    assert.equal(notHeld.approve ? null : notHeld.code, 'KEY_NOT_HELD')
    const soon = judgeRefresh({ ...base, lastApprovedAt: base.now - 60_000 })
    assert.equal(soon.approve ? null : soon.code, 'TOO_SOON')
    assert.match(soon.approve ? '' : soon.reason, /approved 60 s ago; TW_REFRESH_MIN_INTERVAL_S is 600 \(retry in 540 s\)/)
    assert.deepEqual(judgeRefresh({ ...base, lastApprovedAt: base.now - 600_000 }), { approve: true })
  })
})

describe('share refresh: one node', () => {
  let etcd: FakeEtcd
  let engine: FakeEngine
  let svc: KeyRefreshService
  let voteDir: string
  const leaderTerm: { term: string | null } = { term: null }
  const banned: number[] = []
  const cluster = {
    upNodes: () => [1, 2, 3, 4, 5],
    bannedNodes: () => banned,
    get leaderTerm() {
      return leaderTerm.term
    },
  }
  /** Node 1's refresh service over `etcd` and `engine`, its votes in `voteDir` (a restart keeps them). */
  const node1 = (cfg: AppConfig = config) =>
    new KeyRefreshService(
      cfg,
      etcd as never,
      cluster as never,
      engine as never,
      fakeIdentity(1) as never,
      { record: async () => undefined } as never,
      { ensureOne: async () => undefined, kick: () => undefined } as never,
      new MetricsService(cfg),
      new RefreshVoteLedger(voteDir),
    )

  beforeEach(async () => {
    etcd = new FakeEtcd()
    engine = new FakeEngine()
    leaderTerm.term = null
    banned.length = 0
    voteDir = mkdtempSync(path.join(tmpdir(), 'tw-refresh-votes-'))
    svc = node1()
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

  /** Nodes 2..5 approve the job (node 1 votes on its own step). */
  async function othersApprove(jobId = 'refresh-1'): Promise<void> {
    for (const n of [2, 3, 4, 5]) await etcd.put(RefreshKeys.vote(jobId, n), vote(n, true, jobId))
  }

  it('nothing pauses or runs until every node approved; one rejection ends the job with its reason and nothing ran', async () => {
    await etcd.put(RefreshKeys.job(KEY), job())
    await step()
    const mine = etcd.value<RefreshVoteRecord>(RefreshKeys.vote('refresh-1', 1))!
    assert.equal(mine.approve, true)
    assert.equal(mine.signature, signAs(1, unsigned(mine)), 'the vote is signed by this node')
    assert.deepEqual(engine.calls, [])
    assert.ok(!engine.paused.has(KEY), 'a filed job does not pause the key: only an approved one does')
    for (const n of [2, 3]) await etcd.put(RefreshKeys.vote('refresh-1', n), vote(n))
    await etcd.put(RefreshKeys.vote('refresh-1', 5), { ...vote(5, false), approve: true }) // node 5's rejection, rewritten
    await step()
    assert.deepEqual(engine.calls, [])
    assert.ok(!engine.paused.has(KEY))
    assert.deepEqual(await svc.status(KEY).then((s) => [s.state, s.approvedBy]), ['voting', [1, 2, 3]], 'a vote its node did not sign does not count')
    await etcd.put(RefreshKeys.vote('refresh-1', 4), vote(4, false))
    await step()
    assert.deepEqual(engine.calls, [], 'a rejected job never runs')
    assert.ok(!engine.paused.has(KEY))
    const s = await svc.status(KEY)
    assert.equal(s.state, 'rejected')
    assert.match(s.error ?? '', /^node 4: TOO_SOON: /)
  })

  it('a node votes once: a vote deleted from etcd is published again byte for byte, also after a restart', async () => {
    await etcd.put(RefreshKeys.job(KEY), job())
    await step()
    const first = etcd.value<RefreshVoteRecord>(RefreshKeys.vote('refresh-1', 1))!
    await etcd.delete(RefreshKeys.vote('refresh-1', 1))
    svc = node1({ ...config, refresh: { minIntervalS: 600 } } as AppConfig) // a restart, same disk
    banned.push(2) // would now reject: the vote cast stands
    await step()
    assert.deepEqual(etcd.value(RefreshKeys.vote('refresh-1', 1)), first)
  })

  it('a second refresh of the key within TW_REFRESH_MIN_INTERVAL_S is rejected by the vote and refused by the API; a job filed by a banned node is rejected', async () => {
    await etcd.put(RefreshKeys.job(KEY), job())
    await step()
    await othersApprove()
    await step()
    await etcd.put(RefreshKeys.result('refresh-1', 3), result(3, false)) // the first one fails
    await step()
    assert.equal((await svc.status(KEY)).state, 'failed')
    await assert.rejects(
      svc.request(KEY),
      (e: Error & { code?: string; details?: { reason: string } }) => e.code === 'CONFLICT' && e.details?.reason === 'TOO_SOON' && /retry in \d+ s/.test(e.message),
    )

    // Filed by node 2 (whose own check may differ): node 1's vote says no, so nothing runs.
    await etcd.put(RefreshKeys.job(KEY), {
      ...job(),
      jobId: 'refresh-2',
      sessionId: 'refresh-2.refresh',
      signature: signAs(2, unsigned({ ...job(), jobId: 'refresh-2', sessionId: 'refresh-2.refresh' })),
    })
    await othersApprove('refresh-2')
    await step()
    const no = etcd.value<RefreshVoteRecord>(RefreshKeys.vote('refresh-2', 1))!
    assert.deepEqual([no.approve, no.code], [false, 'TOO_SOON'])
    assert.equal((await svc.status(KEY)).state, 'rejected')
    assert.equal(engine.calls.filter((c) => c.startsWith('refresh')).length, 1, 'only the first job ran')

    banned.push(2)
    await etcd.put(RefreshKeys.job(KEY), {
      ...job(),
      jobId: 'refresh-3',
      sessionId: 'refresh-3.refresh',
      signature: signAs(2, unsigned({ ...job(), jobId: 'refresh-3', sessionId: 'refresh-3.refresh' })),
    })
    svc = node1({ ...config, refresh: { minIntervalS: 0 } } as AppConfig)
    await step()
    const banned3 = etcd.value<RefreshVoteRecord>(RefreshKeys.vote('refresh-3', 1))!
    assert.deepEqual([banned3.approve, banned3.code], [false, 'REQUESTER_BANNED'])
  })

  it('runs an approved job once, pauses the key, reports a signed result, commits when all agree, resumes when all switched', async () => {
    await etcd.put(RefreshKeys.job(KEY), job())
    await step()
    await othersApprove()
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
    await othersApprove()
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
      new RefreshVoteLedger(mkdtempSync(path.join(tmpdir(), 'tw-refresh-votes-'))),
    )
    ;(other as unknown as { stragglerGraceMs: number }).stragglerGraceMs = 0
    await (other as unknown as { step(): Promise<void> }).step()
    assert.ok(stuck.paused.has(KEY), 'it refuses every session of the key until it switches')
    assert.equal(etcd.value(RefreshKeys.commit('refresh-1', 2)), undefined)
  })

  it('a result not signed by its node does not count', async () => {
    await etcd.put(RefreshKeys.job(KEY), job())
    await step()
    await othersApprove()
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
    await othersApprove()
    await step()
    await etcd.put(RefreshKeys.result('refresh-1', 3), result(3, false))
    await step()
    assert.ok(engine.calls.includes(`discard ${KEY}`))
    assert.ok(!engine.paused.has(KEY))
    const s = await svc.status(KEY)
    assert.equal(s.state, 'failed')
    assert.match(s.error ?? '', /node 3: TIMEOUT/)
    svc = node1({ ...config, refresh: { minIntervalS: 0 } } as AppConfig)
    const again = await svc.request(KEY)
    assert.notEqual(again.jobId, 'refresh-1')
    assert.equal(again.state, 'voting')
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
