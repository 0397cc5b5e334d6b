import assert from 'node:assert/strict'
import { beforeEach, describe, it } from 'node:test'
import type { AppConfig } from '../config/config'
import { EtcdKeys } from '../cluster/etcd.repository'
import { unsigned } from '../common/signed'
import { MetricsService } from '../metrics/metrics.service'
import { FakeEtcd } from '../testing/fake-etcd'
import { fakeIdentity, signAs } from '../testing/fake-identity'
import { DkgCoordinatorService } from './dkg-coordinator.service'
import { DkgWorkerService } from './dkg-worker.service'
import { keyIdFor, type AuxRecord, type DkgJobRecord, type DkgRequestRecord, type DkgResultRecord, type KeyRecord } from './dkg.types'

// Key generation records are a node's word, not etcd's: the request is signed by the node whose
// API took it, the job and the aux generation by the leader that made them. Something holding
// etcd write access alone (a stolen credential, a compromised member) can neither make the
// nodes generate a key nobody asked for nor make them burn safe-prime sets on aux sessions.

const config = { nodeId: 1, clusterSize: 5, threshold: 4, insecureTestPrimes: true, dkgTimeoutMs: 60_000 } as unknown as AppConfig

/** The engine as the worker drives it: what it was asked to run. */
class FakeEngine {
  runs: string[] = []
  isStarted = true
  keyInfo() {
    return null
  }
  hasAuxInfo() {
    return false
  }
  primePoolSize() {
    return 1
  }
  async ecdsaAuxInfo(sessionId: string) {
    this.runs.push(`aux ${sessionId}`)
  }
  async frostDkg(sessionId: string) {
    this.runs.push(`dkg ${sessionId}`)
    return { publicKey: '02' + '11'.repeat(32), chainCode: '22'.repeat(32), outputKey: '33'.repeat(32) }
  }
}

function request(jobId: string, by = 3, signer = by): DkgRequestRecord {
  const body: Omit<DkgRequestRecord, 'signature'> = { jobId, protocol: 'schnorr', requestedBy: by, requestedAt: '2026-01-01T00:00:00.000Z' }
  return { ...body, signature: signAs(signer, body) }
}

function job(jobId: string, over: Partial<DkgJobRecord> = {}, leader = 2, signer = leader): DkgJobRecord {
  const body: Omit<DkgJobRecord, 'signature'> = {
    jobId,
    protocol: 'schnorr',
    keyId: keyIdFor('schnorr', jobId),
    sessionId: `dkg-${jobId}`,
    auxId: null,
    createdAt: '2026-01-01T00:00:01.000Z',
    createdBy: leader,
    term: '1',
    request: request(jobId),
    ...over,
  }
  return { ...body, signature: signAs(signer, body) }
}

function aux(generation: number, signer: number | null = 2): AuxRecord {
  const body: Omit<AuxRecord, 'signature'> = {
    auxId: `aux-${generation}`,
    generation,
    sessionId: `aux-${generation}-abc`,
    createdAt: '2026-01-01T00:00:00.000Z',
    completedAt: null,
    createdBy: 2,
  }
  return { ...body, signature: signer === null ? '' : signAs(signer, body) }
}

describe('key generation records are signed by nodes, and checked before anything runs', () => {
  let etcd: FakeEtcd
  let engine: FakeEngine
  let worker: DkgWorkerService
  const audits: string[] = []

  beforeEach(() => {
    etcd = new FakeEtcd()
    engine = new FakeEngine()
    audits.length = 0
    worker = new DkgWorkerService(
      config,
      etcd as never,
      { upNodes: () => [1, 2, 3, 4, 5] } as never,
      engine as never,
      { record: async (action: string) => void audits.push(action) } as never,
      new MetricsService(config),
      { ensureOne: async () => undefined, kick: () => undefined } as never,
      fakeIdentity(1) as never,
    )
  })

  /** One worker pass, and the sessions it started. */
  async function step(): Promise<void> {
    await (worker as unknown as { step(): Promise<void> }).step()
    const w = worker as unknown as { running: Map<string, Promise<void>>; auxRuns: Map<string, Promise<boolean>> }
    await Promise.all([...w.running.values(), ...w.auxRuns.values()])
  }

  async function pendingKey(jobId: string): Promise<void> {
    const key: KeyRecord = {
      keyId: keyIdFor('schnorr', jobId),
      jobId,
      protocol: 'schnorr',
      status: 'pending',
      publicKey: null,
      chainCode: null,
      outputKey: null,
      reportedBy: [],
      createdAt: 'x',
      activatedAt: null,
      error: null,
    }
    await etcd.put(EtcdKeys.key(key.keyId), key)
  }

  it('a DKG job not signed by its leader, or whose request no node signed, or rewritten, never runs and fails the key cleanly', async () => {
    const forged: [string, DkgJobRecord][] = [
      ['j-unsigned', { ...job('j-unsigned'), signature: '' }],
      ['j-by-etcd', job('j-by-etcd', {}, 2, 4)], // names leader 2, signed by node 4
      ['j-request', job('j-request', { request: request('j-request', 3, 5) })], // the request names node 3, signed by 5
      ['j-other-request', job('j-other-request', { request: request('j-elsewhere') })],
    ]
    const rewritten = job('j-rewritten')
    forged.push(['j-rewritten', { ...rewritten, sessionId: 'dkg-j-signed-before' }])
    for (const [id, record] of forged) {
      await pendingKey(id)
      await etcd.put(EtcdKeys.dkgJob(id), record)
    }
    await step()
    assert.deepEqual(engine.runs, [], 'no session ran for a job no leader signed')
    for (const [id] of forged) {
      const r = etcd.value<DkgResultRecord>(EtcdKeys.dkgResult(id, 1))
      assert.ok(r && !r.ok && r.code === 'BAD_JOB', `${id}: ${JSON.stringify(r)}`)
    }
    assert.ok(audits.includes('dkg.refused'))

    await pendingKey('j-good')
    await etcd.put(EtcdKeys.dkgJob('j-good'), job('j-good'))
    await step()
    assert.deepEqual(engine.runs, ['dkg dkg-j-good'], 'a job its leader signed from a signed request runs')
    assert.equal(etcd.value<DkgResultRecord>(EtcdKeys.dkgResult('j-good', 1))?.ok, true)
  })

  it('an aux info generation no node signed is not run (it would burn a safe-prime set); a signed one is', async () => {
    await etcd.put(EtcdKeys.auxCurrent, aux(1, null))
    await step()
    await etcd.put(EtcdKeys.auxCurrent, { ...aux(1), sessionId: 'aux-1-rewritten' })
    await step()
    await etcd.put(EtcdKeys.auxCurrent, aux(1, 3))
    await step()
    assert.deepEqual(engine.runs, [])
    assert.equal(etcd.value(EtcdKeys.auxResult('aux-1', 1)), undefined, 'nothing reported either')
    assert.ok(audits.includes('aux.refused'))
    await etcd.put(EtcdKeys.auxCurrent, aux(1))
    await step()
    assert.deepEqual(engine.runs, ['aux aux-1-abc'])
  })

  it('the leader turns only signed requests into jobs, signed by itself and carrying the request', async () => {
    const coordinator = new DkgCoordinatorService(
      config,
      etcd as never,
      { leaderTerm: etcd.term, upNodes: () => [1, 2, 3, 4, 5], primesReadyNodes: () => [1, 2, 3, 4, 5] } as never,
      { record: async (action: string) => void audits.push(action) } as never,
      fakeIdentity(1) as never,
    )
    await etcd.put(EtcdKeys.dkgRequest('r-forged'), { ...request('r-forged'), signature: signAs(4, unsigned(request('r-forged'))) })
    await etcd.put(EtcdKeys.dkgRequest('r-good'), request('r-good'))
    await (coordinator as unknown as { step(): Promise<void> }).step()
    assert.equal(etcd.value(EtcdKeys.dkgJob('r-forged')), undefined, 'no key for a request no node signed')
    assert.equal(etcd.value(EtcdKeys.dkgRequest('r-forged')), undefined, 'the forged request is dropped')
    assert.equal(etcd.value(EtcdKeys.key(keyIdFor('schnorr', 'r-forged'))), undefined)
    assert.ok(audits.includes('dkg.request_refused'))
    const made = etcd.value<DkgJobRecord>(EtcdKeys.dkgJob('r-good'))!
    assert.equal(made.signature, signAs(1, unsigned(made)))
    assert.deepEqual(made.request, request('r-good'))
    const a = etcd.value<AuxRecord>(EtcdKeys.auxCurrent)!
    assert.equal(a.signature, signAs(1, unsigned(a)), 'the aux generation is signed by the leader too')
  })
})
