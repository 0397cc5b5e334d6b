import 'reflect-metadata'
import { Module, type INestApplication } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { AuditService } from '../audit/audit.service'
import { ClusterService } from '../cluster/cluster.service'
import { RecoveryService } from '../wallet/recovery.service'
import { DependencyUnavailableError } from '../common/errors'
import { KeyRefreshService } from '../keys/key-refresh.service'
import { KeysService } from '../keys/keys.service'
import { AuditController } from './audit.controller'
import { ClusterController } from './cluster.controller'
import { configureApp } from './configure-app'
import { KeysController } from './keys.controller'

// The HTTP layer alone: real controllers, filter and pipes; services stubbed.
const created: string[] = []
const keysStub = {
  create: async (protocol: 'ecdsa' | 'schnorr') => {
    created.push(protocol)
    return {
      done: protocol === 'schnorr',
      key: { id: `${protocol}-x`, protocol, status: protocol === 'schnorr' ? 'active' : 'pending', publicKey: null, chainCode: null, reportedBy: [], createdAt: 'now' },
    }
  },
  list: async () => ({ keys: [] }),
  get: async () => {
    throw new Error('boom: secret internals')
  },
}
const auditStub = {
  verify: async () => {
    throw new DependencyUnavailableError('database unavailable', { dependency: 'database' })
  },
}

@Module({
  controllers: [KeysController, ClusterController, AuditController],
  providers: [
    { provide: KeysService, useValue: keysStub },
    { provide: KeyRefreshService, useValue: {} },
    { provide: ClusterService, useValue: { status: async () => ({ nodeId: 1 }) } },
    { provide: RecoveryService, useValue: {} },
    { provide: AuditService, useValue: auditStub },
  ],
})
class TestApiModule {}

describe('HTTP error shape', () => {
  let app: INestApplication
  let base: string

  before(async () => {
    app = await NestFactory.create(TestApiModule, { logger: false })
    configureApp(app)
    await app.listen(0, '127.0.0.1')
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`
  })
  after(async () => {
    await app?.close()
  })

  async function call(method: string, path: string, body?: string, contentType = 'application/json') {
    const res = await fetch(base + path, { method, body, headers: body === undefined ? {} : { 'content-type': contentType } })
    const text = await res.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      assert.fail(`not JSON (${res.status}): ${text}`)
    }
    return { status: res.status, json: json as { error?: { code: string; message: string; details?: unknown } } }
  }

  function assertError(r: { status: number; json: { error?: { code: string; message: string } } }, status: number, code: string) {
    assert.equal(r.status, status, JSON.stringify(r.json))
    assert.equal(r.json.error?.code, code)
    assert.equal(typeof r.json.error?.message, 'string')
    assert.doesNotMatch(JSON.stringify(r.json), /at .*\.js:\d+|stack/i)
  }

  it('malformed JSON → 400 VALIDATION_FAILED', async () => {
    assertError(await call('POST', '/api/v1/keys', '{"protocol": '), 400, 'VALIDATION_FAILED')
  })

  it('schema violations → 400 VALIDATION_FAILED with details', async () => {
    for (const body of ['{"protocol":"rsa"}', '{}', '[]', '{"protocol":"ecdsa","extra":1}']) {
      const r = await call('POST', '/api/v1/keys', body)
      assertError(r, 400, 'VALIDATION_FAILED')
      assert.ok(r.json.error?.details, body)
    }
    // JSON scalars are refused by the strict body parser itself.
    for (const body of ['"ecdsa"', 'null', '1']) assertError(await call('POST', '/api/v1/keys', body), 400, 'VALIDATION_FAILED')
    assertError(await call('POST', '/api/v1/keys'), 400, 'VALIDATION_FAILED')
    assertError(await call('POST', '/api/v1/keys', 'protocol=ecdsa', 'application/x-www-form-urlencoded'), 415, 'VALIDATION_FAILED')
    assertError(await call('GET', '/api/v1/keys/..%2F..%2Fetc'), 400, 'VALIDATION_FAILED')
    assert.deepEqual(created, [])
  })

  it('unknown route → 404 NOT_FOUND', async () => {
    assertError(await call('GET', '/api/v1/nope'), 404, 'NOT_FOUND')
    assertError(await call('DELETE', '/api/v1/keys'), 404, 'NOT_FOUND')
  })

  it('dependency down → 503; unexpected error → 500 without internals', async () => {
    assertError(await call('GET', '/api/v1/audit/verify'), 503, 'DEPENDENCY_UNAVAILABLE')
    const r = await call('GET', '/api/v1/keys/ecdsa-1')
    assertError(r, 500, 'INTERNAL')
    assert.doesNotMatch(JSON.stringify(r.json), /boom|secret/)
  })

  it('valid requests → 201 when done, 202 while pending', async () => {
    assert.equal((await call('POST', '/api/v1/keys', '{"protocol":"schnorr"}')).status, 201)
    const pending = await call('POST', '/api/v1/keys', '{"protocol":"ecdsa"}')
    assert.equal(pending.status, 202)
    assert.equal((pending.json as { status?: string }).status, 'pending')
  })

  it('serves the OpenAPI document', async () => {
    const doc = (await (await fetch(`${base}/api/docs-json`)).json()) as { paths: Record<string, unknown> }
    assert.ok(doc.paths['/api/v1/keys'])
    assert.ok(doc.paths['/api/v1/cluster/status'])
    const ui = await fetch(`${base}/api/docs`)
    assert.equal(ui.status, 200)
    assert.match(await ui.text(), /swagger/i)
  })
})
