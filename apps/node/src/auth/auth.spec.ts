import 'reflect-metadata'
import { Controller, Get, Global, Module, type INestApplication } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { AuditController } from '../api/audit.controller'
import { ByzantineController } from '../api/byzantine.controller'
import { ClusterController } from '../api/cluster.controller'
import { configureApp } from '../api/configure-app'
import { KeysController } from '../api/keys.controller'
import { PresignaturesController, TransactionsController, WalletController } from '../api/wallet.controller'
import { AuditModule } from '../audit/audit.module'
import { ByzantineService } from '../byzantine/byzantine.service'
import { DrillService } from '../byzantine/drill.service'
import { ClusterService } from '../cluster/cluster.service'
import { RecoveryService } from '../wallet/recovery.service'
import { EtcdRepository } from '../cluster/etcd.repository'
import { loadConfig, type AppConfig } from '../config/config'
import { ConfigModule } from '../config/config.module'
import { EventLogService } from '../events/event-log.service'
import { EventsController, WebhooksController } from '../events/events.controller'
import { WebhooksService } from '../events/webhooks.service'
import { KeyRefreshService } from '../keys/key-refresh.service'
import { KeysService } from '../keys/keys.service'
import { MetricsModule } from '../metrics/metrics.module'
import { DatabaseRepository } from '../persistence/database.repository'
import { PersistenceModule } from '../persistence/persistence.module'
import { startEtcdCluster, type EtcdCluster } from '../testing/etcd'
import { createTestDatabase, type TestDatabase } from '../testing/postgres'
import { until } from '../testing/until'
import { PresignatureService } from '../wallet/presignature.service'
import { SendService } from '../wallet/send.service'
import { ReplaceService } from '../wallet/replace.service'
import { TxAbandonService } from '../wallet/tx-abandon.service'
import { WalletService } from '../wallet/wallet.service'
import { CoinsService } from '../wallet/coins.service'
import { ApiDenials } from './api-denials'
import { AuthModule } from './auth.module'
import { generateToken, hashToken } from './token'
import { TokenService } from './token.service'

// The real guard, token service, throttler, PostgreSQL and etcd, with the real /api/v1
// controllers in front of stubbed services (which record every call: a refused request must
// never reach one). Nodes 1 and 2 share a database; node 3 has its own (production layout);
// node 4 shares the database with a low rate limit and TW_METRICS_TOKEN_REQUIRED=true.

const calls: string[] = []
const stub = <T extends object>(name: string, methods: Record<string, (...a: unknown[]) => unknown>): T =>
  Object.fromEntries(Object.entries(methods).map(([m, f]) => [m, (...a: unknown[]) => (calls.push(`${name}.${m}`), f(...a))])) as T
const TX_ID = '0b6f1d1e-4a57-4a4e-9b1e-8a3f7e1d2c3b'
const tx = { id: TX_ID, state: 'voting' }
const stubs = [
  { provide: KeysService, useValue: stub('keys', { create: async () => ({ done: true, key: { id: 'k1' } }), list: async () => ({ keys: [] }), get: async () => ({ id: 'k1' }) }) },
  { provide: KeyRefreshService, useValue: stub('refresh', { request: async () => ({ jobId: 'j1' }), status: async () => ({ jobId: 'j1' }) }) },
  { provide: ClusterService, useValue: stub('cluster', { status: async () => ({ nodeId: 1 }) }) },
  { provide: RecoveryService, useValue: stub('recovery', { recover: async () => ({ dryRun: true, keys: [] }) }) },
  {
    provide: WalletService,
    useValue: stub('wallet', {
      nextAddress: async () => ({ address: 'x' }),
      balance: async () => ({}),
      descriptors: async () => ({}),
      listAddresses: async () => ({ addresses: [] }),
    }),
  },
  {
    provide: SendService,
    useValue: stub('send', { create: async () => ({ tx, created: true }), list: async () => ({ transactions: [] }), get: async () => tx, quote: async () => ({ feeSats: 1 }) }),
  },
  { provide: ReplaceService, useValue: stub('replace', { replace: async () => tx }) },
  {
    provide: TxAbandonService,
    useValue: stub('abandon', { abandon: async () => ({ id: TX_ID, txid: 'ee'.repeat(32), released: [], abandonedAt: '2025-01-01T00:00:00.000Z', warning: 'w' }) }),
  },
  { provide: CoinsService, useValue: stub('coins', { list: async () => ({ utxos: [] }), deposits: async () => ({ deposits: [] }) }) },
  { provide: PresignatureService, useValue: stub('presig', { generate: async () => ({ jobs: [] }), status: async () => ({}) }) },
  { provide: ByzantineService, useValue: stub('byzantine', { list: async () => ({ violations: [] }), unban: async () => ({ nodeId: 2 }) }) },
  { provide: DrillService, useValue: stub('drill', { state: () => ({ enabled: true }), set: async () => ({ enabled: true }) }) },
  { provide: EventLogService, useValue: stub('events', { since: () => [], subscribe: () => () => undefined, checkOrFalse: async () => true, whenReady: async () => true }) },
  {
    provide: WebhooksService,
    useValue: stub('webhooks', {
      create: async () => ({ id: TX_ID, secret: 'whsec_x' }),
      list: async () => [],
      get: async () => ({ id: TX_ID }),
      remove: async () => ({ id: TX_ID }),
      deliveries: async () => [],
      test: async () => ({ outcome: 'delivered' }),
    }),
  },
]

/** Same routes as the real HealthController (the guard decides by route, not by class). */
@Controller('health')
class HealthStubController {
  @Get() all() {
    return { status: 'ok' }
  }
  @Get('ready') ready() {
    return { status: 'ok' }
  }
  @Get('live') live() {
    return { status: 'ok' }
  }
}

type Role = 'viewer' | 'operator' | 'admin'
/** Every /api/v1 route and the least role it needs. */
const ROUTES: { method: 'GET' | 'POST' | 'DELETE'; path: string; body?: unknown; role: Role }[] = [
  { method: 'GET', path: '/api/v1/cluster/status', role: 'viewer' },
  { method: 'GET', path: '/api/v1/keys', role: 'viewer' },
  { method: 'GET', path: '/api/v1/keys/k1', role: 'viewer' },
  { method: 'GET', path: '/api/v1/keys/k1/refresh', role: 'viewer' },
  { method: 'GET', path: '/api/v1/audit/verify', role: 'viewer' },
  { method: 'POST', path: '/api/v1/wallet/address', body: { type: 'segwit' }, role: 'operator' },
  { method: 'GET', path: '/api/v1/wallet/balance', role: 'viewer' },
  { method: 'GET', path: '/api/v1/wallet/descriptors', role: 'viewer' },
  { method: 'GET', path: '/api/v1/wallet/utxos', role: 'viewer' },
  { method: 'GET', path: '/api/v1/wallet/deposits', role: 'viewer' },
  { method: 'GET', path: '/api/v1/wallet/addresses', role: 'viewer' },
  { method: 'GET', path: '/api/v1/transactions', role: 'viewer' },
  { method: 'GET', path: `/api/v1/transactions/${TX_ID}`, role: 'viewer' },
  { method: 'GET', path: '/api/v1/presignatures/status', role: 'viewer' },
  { method: 'GET', path: '/api/v1/byzantine/violations', role: 'viewer' },
  { method: 'GET', path: '/api/v1/drill', role: 'viewer' },
  { method: 'GET', path: '/api/v1/events?follow=false', role: 'viewer' },
  { method: 'POST', path: '/api/v1/transactions', body: { to: 'bcrt1qexample', amountSats: 1000 }, role: 'operator' },
  { method: 'POST', path: '/api/v1/transactions/quote', body: { to: 'bcrt1qexample', amountSats: 1000 }, role: 'operator' },
  { method: 'POST', path: `/api/v1/transactions/${TX_ID}/bump`, body: { feeRate: 5 }, role: 'operator' },
  { method: 'POST', path: `/api/v1/transactions/${TX_ID}/cancel`, body: {}, role: 'operator' },
  { method: 'POST', path: '/api/v1/presignatures', body: { count: 1 }, role: 'operator' },
  { method: 'POST', path: '/api/v1/keys', body: { protocol: 'schnorr' }, role: 'admin' },
  { method: 'POST', path: '/api/v1/keys/k1/refresh', role: 'admin' },
  { method: 'POST', path: '/api/v1/cluster/nodes/2/unban', body: {}, role: 'admin' },
  { method: 'POST', path: '/api/v1/cluster/recover', body: { dryRun: true }, role: 'admin' },
  { method: 'POST', path: `/api/v1/transactions/${TX_ID}/abandon`, body: { reason: 'refused as invalid; checked' }, role: 'admin' },
  { method: 'POST', path: '/api/v1/drill', body: { behaviours: [] }, role: 'admin' },
  { method: 'GET', path: '/api/v1/tokens', role: 'admin' },
  { method: 'POST', path: '/api/v1/tokens', body: { name: 'made-in-matrix', role: 'viewer' }, role: 'admin' },
  { method: 'GET', path: '/api/v1/webhooks', role: 'admin' },
  { method: 'POST', path: '/api/v1/webhooks', body: { url: 'https://erp.example.com/hook' }, role: 'admin' },
  { method: 'GET', path: `/api/v1/webhooks/${TX_ID}`, role: 'admin' },
  { method: 'GET', path: `/api/v1/webhooks/${TX_ID}/deliveries`, role: 'admin' },
  { method: 'POST', path: `/api/v1/webhooks/${TX_ID}/test`, body: {}, role: 'admin' },
  { method: 'DELETE', path: `/api/v1/webhooks/${TX_ID}`, role: 'admin' },
]
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 }

interface Node {
  app: INestApplication
  base: string
  config: AppConfig
}

function configFor(id: number, db: string, etcd: string[], env: Record<string, string>): AppConfig {
  return loadConfig({
    TW_NODE_ID: String(id),
    TW_API_PORT: '1',
    TW_QUIC_LISTEN: '127.0.0.1:1',
    TW_QUIC_PEERS: [1, 2, 3, 4, 5]
      .filter((p) => p !== id)
      .map((p) => `${p}=127.0.0.1:1`)
      .join(','),
    TW_CA_CERT: 'ca',
    TW_NODE_CERT: 'crt',
    TW_NODE_KEY: 'key',
    TW_KEYSTORE_DIR: '/nonexistent',
    TW_KEYSTORE_PASSPHRASE: 'x',
    TW_ETCD_ENDPOINTS: etcd.join(','),
    TW_DATABASE_URL: db,
    ...env,
  })
}

async function startNode(config: AppConfig): Promise<Node> {
  @Global()
  @Module({
    providers: [{ provide: EtcdRepository, useFactory: () => new EtcdRepository({ endpoints: config.etcd.endpoints, leaseTtlSeconds: 5 }) }],
    exports: [EtcdRepository],
  })
  class EtcdTestModule {}
  @Module({
    imports: [ConfigModule.forRoot(config), PersistenceModule, AuditModule, MetricsModule, EtcdTestModule, AuthModule],
    controllers: [
      KeysController,
      ClusterController,
      AuditController,
      WalletController,
      TransactionsController,
      PresignaturesController,
      ByzantineController,
      EventsController,
      WebhooksController,
      HealthStubController,
    ],
    providers: stubs,
  })
  class TestNodeModule {}
  const app = await NestFactory.create(TestNodeModule, { logger: false })
  configureApp(app, { maxBodyBytes: config.auth.maxBodyBytes, denials: app.get(ApiDenials) })
  assert.equal(await app.get(DatabaseRepository).start(), true)
  await app.get(TokenService).start()
  await app.listen(0, '127.0.0.1')
  return { app, base: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`, config }
}

interface Answer {
  status: number
  headers: Headers
  json: { error?: { code: string; message: string } } & Record<string, unknown>
}

async function call(node: Node, method: string, path: string, token?: string | null, body?: unknown, rawBody?: string): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (token) headers.authorization = `Bearer ${token}`
  const payload = rawBody ?? (body === undefined ? undefined : JSON.stringify(body))
  if (payload !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(node.base + path, { method, headers, body: payload })
  const text = await res.text()
  let json: Answer['json'] = {}
  try {
    json = text ? JSON.parse(text) : {}
  } catch {
    json = { text } as Answer['json']
  }
  return { status: res.status, headers: res.headers, json }
}

function assertError(r: Answer, status: number, code: string, what: string): void {
  assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`)
  assert.equal(r.json.error?.code, code, what)
  assert.equal(typeof r.json.error?.message, 'string', what)
}

describe('API access control', { timeout: 120_000 }, () => {
  let etcd: EtcdCluster
  let shared: TestDatabase
  let own: TestDatabase
  const nodes: Node[] = []
  const admin = generateToken()
  const tokens: Partial<Record<Role, string>> = {}
  let n1: Node, n2: Node, n3: Node, n4: Node

  before(async () => {
    etcd = await startEtcdCluster(1)
    shared = await createTestDatabase('tw_auth')
    own = await createTestDatabase('tw_auth_own')
    const common = { TW_BOOTSTRAP_ADMIN_TOKEN_SHA256: hashToken(admin), TW_RATE_LIMIT_PER_MIN: '10000' }
    n1 = await startNode(configFor(1, shared.url, etcd.endpoints, common))
    n2 = await startNode(configFor(2, shared.url, etcd.endpoints, common))
    n3 = await startNode(configFor(3, own.url, etcd.endpoints, common))
    n4 = await startNode(configFor(4, shared.url, etcd.endpoints, { ...common, TW_RATE_LIMIT_PER_MIN: '5', TW_METRICS_TOKEN_REQUIRED: 'true', TW_MAX_BODY_BYTES: '2048' }))
    nodes.push(n1, n2, n3, n4)
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      const r = await call(n1, 'POST', '/api/v1/tokens', admin, { name: `spec-${role}`, role })
      assert.equal(r.status, 201, JSON.stringify(r.json))
      assert.match(String(r.json.token), /^tw_[A-Za-z0-9_-]{43}$/)
      tokens[role] = String(r.json.token)
    }
  })
  after(async () => {
    for (const n of nodes) await n.app.close().catch(() => undefined)
    for (const n of nodes) {
      await n.app.get(TokenService).stop()
      await n.app
        .get(EtcdRepository)
        .close()
        .catch(() => undefined)
      await n.app
        .get(DatabaseRepository)
        .stop()
        .catch(() => undefined)
    }
    await etcd?.stop()
    await shared?.drop().catch(() => undefined)
    await own?.drop().catch(() => undefined)
  })

  it('the bootstrap admin token is registered idempotently (hash only, one row per database)', async () => {
    const r = await call(n1, 'GET', '/api/v1/tokens', admin)
    assert.equal(r.status, 200)
    const list = r.json.tokens as { name: string; role: string }[]
    assert.equal(list.filter((t) => t.name === 'bootstrap-admin').length, 1, 'two nodes on one database made one row')
    assert.doesNotMatch(JSON.stringify(r.json), /tw_|[0-9a-f]{64}/, 'neither tokens nor hashes are listed')
    assert.equal((await call(n3, 'GET', '/api/v1/keys', admin)).status, 200, 'node 3 (own database) has it too')
  })

  it('each role can do exactly what it should and nothing more', async () => {
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      for (const route of ROUTES) {
        const before = calls.length
        const r = await call(n1, route.method, route.path, tokens[role], route.body)
        const what = `${role} ${route.method} ${route.path}`
        if (RANK[role] >= RANK[route.role]) {
          assert.ok(r.status >= 200 && r.status < 300, `${what} → ${r.status} ${JSON.stringify(r.json)}`)
        } else {
          assertError(r, 403, 'FORBIDDEN', what)
          assert.equal(calls.length, before, `${what} reached a service`)
        }
      }
    }
  })

  it('no token, a malformed, unknown or wrong token → 401 on every /api/v1 route; nothing reaches a service', async () => {
    const before = calls.length
    const unknown = generateToken()
    for (const route of ROUTES) {
      for (const [label, token, header] of [
        ['none', null, undefined],
        ['unknown', unknown, undefined],
        ['malformed', 'tw_short', undefined],
        ['basic', null, 'Basic YWRtaW46YWRtaW4='],
      ] as const) {
        const res = await fetch(n1.base + route.path, {
          method: route.method,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : header ? { authorization: header } : {}),
            ...(route.body ? { 'content-type': 'application/json' } : {}),
          },
          body: route.body ? JSON.stringify(route.body) : undefined,
        })
        const json = (await res.json()) as Answer['json']
        assertError({ status: res.status, headers: res.headers, json }, 401, 'UNAUTHORIZED', `${label} ${route.method} ${route.path}`)
        if (label !== 'none') assert.equal(json.error?.message, 'invalid or revoked token')
      }
    }
    assert.equal(calls.length, before)
  })

  it('a revoked token stops at once on every node (shared database at once, own database through etcd)', async () => {
    const made = await call(n1, 'POST', '/api/v1/tokens', admin, { name: 'to-revoke', role: 'viewer' })
    const token = String(made.json.token)
    const id = String(made.json.id)
    assert.equal((await call(n2, 'GET', '/api/v1/keys', token)).status, 200)
    // An event stream opened with the token on node 4 (its own database: it learns through etcd).
    const stream = await fetch(`${n4.base}/api/v1/events?since=0`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(stream.status, 200)
    const reader = stream.body!.getReader()
    await reader.read() // the opening frame: the stream is live
    const revoked = await call(n1, 'POST', `/api/v1/tokens/${id}/revoke`, admin, {})
    assert.equal(revoked.status, 200)
    assert.ok(revoked.json.revokedAt)
    let rest = ''
    const deadline = Date.now() + 10_000
    for (;;) {
      const timeout = new Promise<'open'>((done) => setTimeout(() => done('open'), Math.max(0, deadline - Date.now())).unref())
      const chunk = await Promise.race([reader.read(), timeout])
      if (chunk === 'open') break
      if (chunk.done) {
        rest += '<end>'
        break
      }
      rest += new TextDecoder().decode(chunk.value)
    }
    if (!rest.endsWith('<end>')) await reader.cancel()
    assert.match(rest, /: token revoked\n\n<end>$/, 'the open stream of the revoked token ends at once on node 4')
    for (const n of [n1, n2, n4]) {
      const r = await call(n, 'GET', '/api/v1/keys', token)
      assertError(r, 401, 'UNAUTHORIZED', `node ${n.config.nodeId}`)
      assert.equal(r.json.error?.message, 'invalid or revoked token', 'same message as an unknown token')
    }
    assert.equal((await call(n1, 'POST', `/api/v1/tokens/${id}/revoke`, admin, {})).status, 200, 'idempotent')
    assertError(await call(n1, 'POST', '/api/v1/tokens/00000000-0000-4000-8000-000000000000/revoke', admin, {}), 404, 'NOT_FOUND', 'unknown id')
    assertError(await call(n1, 'POST', '/api/v1/tokens/nope/revoke', admin, {}), 400, 'VALIDATION_FAILED', 'bad id')
    assertError(await call(n1, 'POST', `/api/v1/tokens/${id}/revoke`, tokens.operator, {}), 403, 'FORBIDDEN', 'operator revokes')
  })

  it('token requests are validated', async () => {
    for (const body of [{ name: '', role: 'viewer' }, { name: 'x', role: 'root' }, { name: 'x' }, { name: 'x', role: 'viewer', extra: 1 }, { name: 'a\nb', role: 'viewer' }]) {
      assertError(await call(n1, 'POST', '/api/v1/tokens', admin, body), 400, 'VALIDATION_FAILED', JSON.stringify(body))
    }
  })

  it('a flood from one token → 429 RATE_LIMITED; other tokens keep their own budget', async () => {
    const burst = String((await call(n1, 'POST', '/api/v1/tokens', admin, { name: 'burst', role: 'viewer' })).json.token)
    const before = calls.length
    const answers = await Promise.all(Array.from({ length: 12 }, () => call(n4, 'GET', '/api/v1/keys', burst)))
    const ok = answers.filter((a) => a.status === 200).length
    assert.equal(ok, 5, `limit 5/min: ${answers.map((a) => a.status).join(',')}`)
    for (const a of answers.filter((x) => x.status !== 200)) assertError(a, 429, 'RATE_LIMITED', 'burst')
    assert.equal(calls.length - before, 5, 'throttled requests never reached a service')
    assert.equal((await call(n4, 'GET', '/api/v1/keys', tokens.operator)).status, 200, 'another token is not throttled')
    assert.equal((await call(n1, 'GET', '/api/v1/keys', burst)).status, 200, 'limits are per node')
  })

  it('an oversized body → 413 PAYLOAD_TOO_LARGE before any service', async () => {
    const before = calls.length
    const big = JSON.stringify({ protocol: 'schnorr', pad: 'x'.repeat(70 * 1024) })
    assertError(await call(n1, 'POST', '/api/v1/keys', admin, undefined, big), 413, 'PAYLOAD_TOO_LARGE', 'default 64 KiB')
    const mid = JSON.stringify({ count: 1, pad: 'x'.repeat(3000) })
    assertError(await call(n4, 'POST', '/api/v1/presignatures', tokens.operator, undefined, mid), 413, 'PAYLOAD_TOO_LARGE', 'TW_MAX_BODY_BYTES=2048')
    assert.equal(calls.length, before)
  })

  it('health and metrics: open by default; with TW_METRICS_TOKEN_REQUIRED only /health/live is', async () => {
    for (const p of ['/health', '/health/ready', '/health/live', '/metrics']) assert.equal((await call(n1, 'GET', p)).status, 200, p)
    assert.equal((await call(n4, 'GET', '/health/live')).status, 200)
    for (const p of ['/health', '/health/ready', '/metrics']) {
      assertError(await call(n4, 'GET', p), 401, 'UNAUTHORIZED', p)
      assert.equal((await call(n4, 'GET', p, tokens.admin)).status, 200, `${p} with a token`)
    }
  })

  it('sends security headers', async () => {
    for (const [p, token] of [
      ['/api/v1/keys', tokens.viewer],
      ['/api/v1/keys', null],
      ['/health/live', null],
    ] as const) {
      const r = await call(n1, 'GET', p, token)
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', p)
      assert.ok(r.headers.get('content-security-policy'), p)
      assert.ok(r.headers.get('strict-transport-security'), p)
      assert.equal(r.headers.get('x-frame-options'), 'SAMEORIGIN', p)
      assert.equal(r.headers.get('x-powered-by'), null, p)
    }
  })

  it('counts every denial in mpc_api_denied_total and audits those that touch money or keys', async () => {
    const metrics = (await call(n4, 'GET', '/metrics', tokens.viewer)).json as unknown as { text: string }
    const count = (reason: string) => Number(new RegExp(`mpc_api_denied_total\\{reason="${reason}"[^}]*\\} (\\d+)`).exec(metrics.text)?.[1] ?? -1)
    assert.ok(
      count('rate_limited') >= 7,
      metrics.text
        .split('\n')
        .filter((l) => l.includes('denied'))
        .join('\n'),
    )
    assert.ok(count('payload_too_large') >= 1)
    assert.ok(count('missing_token') >= 3)
    const m1 = ((await call(n1, 'GET', '/metrics')).json as unknown as { text: string }).text
    for (const reason of ['missing_token', 'invalid_token', 'forbidden']) {
      assert.match(m1, new RegExp(`mpc_api_denied_total\\{reason="${reason}"[^}]*\\} [1-9]`), reason)
    }
    // A viewer trying to create a key, and an anonymous send: audited with the route and reason.
    // (In a fresh audit window: the tests before may have used up this minute's cap on node 2.)
    ;(n2.app.get(ApiDenials) as unknown as { window: { start: number } }).window.start = 0
    await call(n2, 'POST', '/api/v1/keys', tokens.viewer, { protocol: 'ecdsa' })
    await call(n2, 'POST', '/api/v1/transactions', null, { to: 'x', amountSats: 1 })
    const rows = await until('denials audited', 10_000, async () => {
      const r = await n2.app.get(DatabaseRepository).read((em) => em.query(`SELECT actor, details FROM audit_log WHERE action = 'api.denied' AND node_id = 2 ORDER BY id`))
      return r.length >= 2 ? (r as { actor: string; details: Record<string, unknown> }[]) : null
    })
    assert.ok(rows.some((r) => r.details.route === '/api/v1/keys' && r.details.reason === 'forbidden' && r.actor.startsWith('token:')))
    assert.ok(rows.some((r) => r.details.route === '/api/v1/transactions' && r.details.reason === 'missing_token' && r.actor === 'anonymous'))
    const created = await n1.app.get(DatabaseRepository).read((em) => em.query(`SELECT count(*)::int AS n FROM audit_log WHERE action IN ('token.created', 'token.revoked')`))
    assert.ok(created[0].n >= 5)
  })

  it('revoking the bootstrap token reaches a node with its own database through etcd, and survives a restart', async () => {
    const list = (await call(n1, 'GET', '/api/v1/tokens', tokens.admin)).json.tokens as { id: string; name: string }[]
    const boot = list.find((t) => t.name === 'bootstrap-admin')!
    assert.equal((await call(n1, 'POST', `/api/v1/tokens/${boot.id}/revoke`, tokens.admin, {})).status, 200)
    assertError(await call(n2, 'GET', '/api/v1/keys', admin), 401, 'UNAUTHORIZED', 'shared database')
    await until('node 3 refuses the revoked bootstrap token', 5000, async () => (await call(n3, 'GET', '/api/v1/keys', admin)).status === 401)
    // A restart with the same TW_BOOTSTRAP_ADMIN_TOKEN_SHA256 does not bring it back.
    const again = await startNode(n1.config)
    nodes.push(again)
    assertError(await call(again, 'GET', '/api/v1/keys', admin), 401, 'UNAUTHORIZED', 'after restart')
    assert.equal((await call(again, 'GET', '/api/v1/keys', tokens.admin)).status, 200)
  })
})
