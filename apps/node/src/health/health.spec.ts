import 'reflect-metadata'
import { Module, type INestApplication } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { TerminusModule } from '@nestjs/terminus'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { after, before, beforeEach, describe, it } from 'node:test'
import { AuditService } from '../audit/audit.service'
import { ClusterService } from '../cluster/cluster.service'
import { EtcdRepository } from '../cluster/etcd.repository'
import { DependencyUnavailableError } from '../common/errors'
import { DatabaseRepository } from '../persistence/database.repository'
import { HealthController } from './health.controller'
import { ChainHealthIndicator, DatabaseHealthIndicator, EtcdHealthIndicator, KeystoreHealthIndicator, PeersHealthIndicator, PrimePoolHealthIndicator } from './health.indicators'

// The real controller and the etcd and database indicators; what they consult is stubbed.
const state = { etcdError: null as string | null, loopHealthy: true, dbError: null as string | null, spooled: 0 }
const up = (key: string) => ({ check: async () => ({ [key]: { status: 'up' } }) })

@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [
    EtcdHealthIndicator,
    DatabaseHealthIndicator,
    {
      provide: EtcdRepository,
      useValue: {
        members: async () => {
          if (state.etcdError) throw new Error(state.etcdError)
          return [1, 2, 3]
        },
        sessionLeaseId: '1',
      },
    },
    {
      provide: ClusterService,
      useValue: {
        get etcdHealthy() {
          return state.loopHealthy
        },
        etcdLastError: 'lease keep-alive failed: no quorum',
      },
    },
    {
      provide: DatabaseRepository,
      useValue: {
        ping: async () => {
          if (state.dbError) throw new DependencyUnavailableError(state.dbError, { dependency: 'database' })
        },
      },
    },
    {
      provide: AuditService,
      useValue: {
        get pendingCount() {
          return state.spooled
        },
      },
    },
    { provide: PeersHealthIndicator, useValue: up('peers') },
    { provide: KeystoreHealthIndicator, useValue: { check: () => ({ keystore: { status: 'up' } }) } },
    { provide: PrimePoolHealthIndicator, useValue: { check: () => ({ prime_pool: { status: 'up' } }) } },
    { provide: ChainHealthIndicator, useValue: up('chain') },
  ],
})
class TestHealthModule {}

describe('health: why a node is (not) ready', () => {
  let app: INestApplication
  let base: string
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`)
    return { status: res.status, body: (await res.json()) as { status: string; details: Record<string, { status: string; message?: string; auditSpooled?: number }> } }
  }

  before(async () => {
    app = await NestFactory.create(TestHealthModule, { logger: false })
    await app.listen(0, '127.0.0.1')
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`
  })
  after(async () => {
    await app?.close()
  })
  beforeEach(() => Object.assign(state, { etcdError: null, loopHealthy: true, dbError: null, spooled: 0 }))

  it('everything up: 200 ok, no audit entry waiting', async () => {
    const r = await get('/health/ready')
    assert.equal(r.status, 200)
    assert.equal(r.body.status, 'ok')
    assert.deepEqual(r.body.details.database, { status: 'up', auditSpooled: 0 })
  })

  it('PostgreSQL down: still ready (200, degraded), the reason and the spooled audit entries named', async () => {
    state.dbError = 'database unavailable'
    state.spooled = 1234
    for (const path of ['/health/ready', '/health']) {
      const r = await get(path)
      assert.equal(r.status, 200, `${path} stays 200: sends go on without PostgreSQL`)
      assert.equal(r.body.status, 'degraded')
      assert.equal(r.body.details.database.status, 'degraded')
      assert.equal(r.body.details.database.auditSpooled, 1234)
      assert.match(r.body.details.database.message ?? '', /database unreachable: database unavailable; sends go on; audit entries spooled: 1234/)
    }
  })

  it('etcd unreachable: not ready (503), "etcd unreachable: <error>, sends paused"', async () => {
    state.etcdError = 'connect ECONNREFUSED 127.0.0.1:2379'
    const r = await get('/health/ready')
    assert.equal(r.status, 503)
    assert.equal(r.body.status, 'error')
    assert.equal(r.body.details.etcd.status, 'down')
    assert.equal(r.body.details.etcd.message, 'etcd unreachable: connect ECONNREFUSED 127.0.0.1:2379, sends paused')
  })

  it('etcd quorum lost (members answer, the cluster loop cannot write): not ready, the loop error named', async () => {
    state.loopHealthy = false
    const r = await get('/health/ready')
    assert.equal(r.status, 503)
    assert.equal(r.body.details.etcd.message, 'etcd unreachable: lease keep-alive failed: no quorum, sends paused')
  })

  it('both down: 503 for etcd, the database still only degraded', async () => {
    state.etcdError = 'no answer within 2500 ms'
    state.dbError = 'database unavailable'
    const r = await get('/health')
    assert.equal(r.status, 503)
    assert.equal(r.body.details.etcd.status, 'down')
    assert.equal(r.body.details.database.status, 'degraded')
  })

  it('liveness consults nothing', async () => {
    state.etcdError = 'down'
    state.dbError = 'down'
    assert.equal((await get('/health/live')).status, 200)
  })
})
