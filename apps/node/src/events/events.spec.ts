import 'reflect-metadata'
import { Module, type INestApplication } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ApiClient, verifyWebhook, type DepositDto, type WalletEventDto } from '@tw/api'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { configureApp } from '../api/configure-app'
import { EtcdRepository } from '../cluster/etcd.repository'
import type { AppConfig } from '../config/config'
import { MetricsService } from '../metrics/metrics.service'
import { DatabaseRepository } from '../persistence/database.repository'
import { startEtcdCluster, type EtcdCluster } from '../testing/etcd'
import { createTestDatabase, type TestDatabase } from '../testing/postgres'
import { until } from '../testing/until'
import { fakeIdentity, signAs } from '../testing/fake-identity'
import { WalletKeys, type TxRecord } from '../wallet/wallet.types'
import { EventLogService } from './event-log.service'
import { TokenService } from '../auth/token.service'
import { EventsController, WebhooksController } from './events.controller'
import { depositEvents, eventBody, EVENT_HORIZON_MS, EventKeys, retryDelayMs, transactionEvents } from './events.types'
import { WebhooksService } from './webhooks.service'

// The event log, its stream and webhooks (issue 16 item 5) on a real etcd and PostgreSQL:
// the leader writes each event once, every node streams them in order, webhooks get each
// event signed, retried until answered, in order, across a change of leader; a deposit event
// that does not check out is never passed on.

const config = (nodeId: number) =>
  ({
    nodeId,
    chain: { url: 'http://chain.invalid', network: 'regtest' },
    events: { depositScanMs: 200, webhookRetryBaseMs: 100, webhookMaxAttempts: 3, webhookTimeoutMs: 2000, webhookAllowPrivate: true },
  }) as unknown as AppConfig

const HOUR = 3600_000
const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString()

function txRecord(id: string, states: TxRecord['state'][]): TxRecord {
  return {
    id,
    type: 'taproot',
    keyId: 'k1',
    to: 'bcrt1pdest',
    amountSats: 25_000,
    recipients: [{ to: 'bcrt1pdest', amountSats: 25_000 }],
    memo: 'payroll',
    externalId: 'ext-1',
    feeSats: 300,
    feeRate: 2,
    vsize: 150,
    locktime: 0,
    inputs: [],
    outputs: [],
    unsignedTx: '00',
    proposalHash: 'h',
    proposedBy: 1,
    state: states[states.length - 1],
    attempt: 1,
    signers: null,
    signingMode: null,
    signedTx: null,
    txid: null,
    error: null,
    createdAt: at(60_000),
    updatedAt: at(0),
    history: states.map((state, n) => ({ state, at: at(60_000 - n * 1000) })),
  }
}

const deposit = (txid: string, confirmations: number): DepositDto => ({
  type: 'segwit',
  keyId: 'k1',
  txid,
  vout: 1,
  valueSats: 70_000,
  address: 'bcrt1qours',
  path: 'm/0/3',
  confirmations,
  blockHeight: confirmations ? 101 : null,
  blockTime: confirmations ? at(1000) : null,
  fromWallet: false,
})

describe('event builders', () => {
  it('one transaction event per history entry, none known twice, none past the horizon', () => {
    const r = txRecord('t1', ['voting', 'approved', 'signing'])
    r.history[0].at = at(EVENT_HORIZON_MS + HOUR)
    const events = transactionEvents(r, (id) => id === 'tx.t1.1')
    assert.deepEqual(
      events.map((e) => [e.id, e.type]),
      [['tx.t1.2', 'transaction.signing']],
    )
    const data = events[0].data as { state: string; recipients: unknown; memo: string; error: unknown }
    assert.equal(data.state, 'signing')
    assert.deepEqual(data.recipients, [{ to: 'bcrt1pdest', amountSats: 25_000 }])
    assert.equal(data.memo, 'payroll')
  })

  it('a deposit is pending while unconfirmed and confirmed once in a block; an old one is nothing', () => {
    assert.deepEqual(
      depositEvents(deposit('aa', 0), () => false).map((e) => e.type),
      ['deposit.pending'],
    )
    assert.deepEqual(
      depositEvents(deposit('aa', 1), () => false).map((e) => [e.id, e.type]),
      [['deposit.aa.1.confirmed', 'deposit.confirmed']],
    )
    assert.deepEqual(
      depositEvents(deposit('aa', 1), (id) => id === 'deposit.aa.1.confirmed'),
      [],
    )
    assert.deepEqual(
      depositEvents({ ...deposit('aa', 900), blockTime: at(EVENT_HORIZON_MS + HOUR) }, () => false),
      [],
    )
  })

  it('retries back off exponentially, at most an hour', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => retryDelayMs(n, 5000)),
      [5000, 10_000, 20_000, 40_000],
    )
    assert.equal(retryDelayMs(30, 5000), 3600_000)
  })

  it('a webhook signature covers the exact body and a recent time', () => {
    const secret = 'whsec_test'
    const body = '{"id":"x"}'
    const t = Math.floor(Date.now() / 1000)
    const header = `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`
    assert.equal(verifyWebhook(secret, header, body), null)
    assert.match(verifyWebhook(secret, header, '{"id":"y"}') ?? '', /does not match/)
    assert.match(verifyWebhook('whsec_other', header, body) ?? '', /does not match/)
    assert.match(verifyWebhook(secret, header, body, 300, Date.now() + 600_000) ?? '', /more than 300 s/)
    assert.match(verifyWebhook(secret, undefined, body) ?? '', /no TW-Signature/)
  })
})

@Module({})
class EventsTestModule {}

interface Received {
  body: string
  event: WalletEventDto
  headers: Record<string, string | string[] | undefined>
}

describe('event log, stream and webhooks (real etcd and PostgreSQL)', { timeout: 120_000 }, () => {
  let cluster: EtcdCluster
  let pg: TestDatabase
  let db: DatabaseRepository
  let receiver: Server
  let receiverUrl: string
  const received: Received[] = []
  /** Answers the receiver gives, in order; then 200. */
  const answers: number[] = []
  const audit = { record: async () => undefined }
  /** Deposits the stub chain knows (for the scan and the check). */
  const chainDeposits: DepositDto[] = []
  /** Txids the node's chain backend does not see yet the first time it is asked (a block behind). */
  const lagging = new Set<string>()
  const coins = {
    deposits: async () => ({ deposits: chainDeposits }),
    confirmDeposit: async (d: DepositDto) => {
      if (lagging.delete(d.txid)) return false
      return chainDeposits.some((c) => c.txid === d.txid && c.vout === d.vout && c.valueSats === d.valueSats)
    },
  }
  interface NodeUnder {
    etcd: EtcdRepository
    cluster: { isLeader: boolean; leaderTerm: string | null }
    log: EventLogService
    hooks: WebhooksService
  }
  const nodes: NodeUnder[] = []
  let app: INestApplication
  let api: ApiClient

  async function node(id: number): Promise<NodeUnder> {
    const etcd = new EtcdRepository({ endpoints: cluster.endpoints, leaseTtlSeconds: 2 })
    await etcd.startSession()
    const c = { isLeader: false, leaderTerm: null as string | null }
    const metrics = new MetricsService({ nodeId: id, threshold: 4 })
    const log = new EventLogService(config(id), etcd, c as never, coins as never, metrics, fakeIdentity(id) as never)
    const hooks = new WebhooksService(config(id), etcd, c as never, log, db, audit as never, metrics)
    await log.start()
    await hooks.start()
    const n = { etcd, cluster: c, log, hooks }
    nodes.push(n)
    return n
  }
  async function lead(n: NodeUnder): Promise<void> {
    const term = await n.etcd.campaign({ nodeId: 1, apiUrl: 'http://x' })
    assert.ok(term)
    n.cluster.isLeader = true
    n.cluster.leaderTerm = term.term
  }

  before(async () => {
    cluster = await startEtcdCluster(1)
    pg = await createTestDatabase()
    db = new DatabaseRepository({ database: { url: pg.url } } as AppConfig)
    assert.equal(await db.start(10_000), true)
    receiver = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        received.push({ body, event: JSON.parse(body) as WalletEventDto, headers: req.headers })
        res.statusCode = answers.shift() ?? 200
        res.end()
      })
    })
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
  })
  after(async () => {
    await app?.close()
    for (const n of nodes) {
      await n.hooks.stop()
      await n.log.stop()
      await n.etcd.close()
    }
    receiver?.close()
    await db?.stop()
    await pg?.drop()
    await cluster?.stop()
  })

  it('the leader writes each transaction event once; every node streams them in order; webhooks get them signed, retried, in order, across a new leader', async () => {
    const a = await node(1)
    const b = await node(2)
    await lead(a)
    // The REST surface on node 2 (not the leader): webhooks and the stream.
    app = await NestFactory.create(
      {
        module: EventsTestModule,
        controllers: [EventsController, WebhooksController],
        providers: [
          { provide: EventLogService, useValue: b.log },
          { provide: WebhooksService, useValue: b.hooks },
          { provide: TokenService, useValue: { onRevoked: () => () => undefined } },
        ],
      },
      { logger: false },
    )
    configureApp(app)
    await app.listen(0, '127.0.0.1')
    api = new ApiClient({ baseUrl: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` })

    const hook = await api.createWebhook({ url: receiverUrl, events: ['transaction.*'] })
    assert.match(hook.secret, /^whsec_[A-Za-z0-9_-]{43}$/)
    assert.equal((await api.webhooks()).webhooks[0].id, hook.id)
    assert.doesNotMatch(JSON.stringify(await api.webhooks()), /whsec_/, 'the secret is never listed')
    // A stream on node 2 from now on.
    const streamed: WalletEventDto[] = []
    const stop = new AbortController()
    const from = b.log.lastSeq // every event after this one, whenever the stream gets going
    const reading = (async () => {
      for await (const e of api.events({ types: ['transaction.*'], since: from }, { signal: stop.signal })) streamed.push(e)
    })()

    // The first delivery gets a 500, the second a 503: retried (100 ms, 200 ms), then delivered.
    answers.push(500, 503)
    const tx = txRecord('0b6f1d1e-4a57-4a4e-9b1e-8a3f7e1d2c3b', ['pending', 'voting'])
    await a.etcd.put(WalletKeys.tx(tx.id), tx)
    await until('two events delivered', 20_000, async () => received.filter((r) => r.headers['tw-delivery-attempt'] !== undefined).length >= 4)
    tx.history.push({ state: 'approved', at: at(0) })
    tx.state = 'approved'
    await a.etcd.put(WalletKeys.tx(tx.id), tx)
    await until('the approved event delivered', 20_000, async () => received.some((r) => r.event.id === `tx.${tx.id}.2`))

    // Leader a goes; b leads and goes on: the next event is delivered once, none skipped.
    await a.hooks.stop()
    await a.log.stop()
    a.cluster.isLeader = false
    await a.etcd.resign(a.cluster.leaderTerm!)
    a.cluster.leaderTerm = null
    await lead(b)
    tx.history.push({ state: 'signing', at: at(0) })
    tx.state = 'signing'
    await b.etcd.put(WalletKeys.tx(tx.id), tx)
    await until('the signing event delivered by the new leader', 20_000, async () => received.some((r) => r.event.id === `tx.${tx.id}.3`))

    // Each event was written once (the new leader's scan of every record wrote nothing again).
    const stored = await b.etcd.getPrefix<{ id: string }>(EventKeys.events)
    assert.deepEqual(
      stored.map((e) => e.value.id).sort(),
      [0, 1, 2, 3].map((n) => `tx.${tx.id}.${n}`),
    )
    // Delivered in order, each signed with the webhook's secret over the exact body.
    const delivered = received.filter((r) => r.event.type.startsWith('transaction.'))
    for (const r of delivered) assert.equal(verifyWebhook(hook.secret, r.headers['tw-signature'] as string, r.body), null)
    assert.deepEqual([...new Set(delivered.map((r) => r.event.type))], ['transaction.pending', 'transaction.voting', 'transaction.approved', 'transaction.signing'])
    assert.deepEqual(
      delivered.slice(0, 3).map((r) => [r.event.id, r.headers['tw-delivery-attempt']]),
      [
        [`tx.${tx.id}.0`, '1'],
        [`tx.${tx.id}.0`, '2'],
        [`tx.${tx.id}.0`, '3'],
      ],
    )
    const seqs = delivered.map((r) => r.event.seq)
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => x - y),
      'in seq order',
    )
    assert.equal((delivered[3].event.data as { memo: string }).memo, 'payroll')

    // The delivery log: two failures, then deliveries, by the leader of the moment.
    const log = (await api.webhookDeliveries(hook.id)).deliveries.reverse()
    assert.deepEqual(
      log.slice(0, 3).map((d) => [d.eventId, d.attempt, d.outcome, d.httpStatus, d.nodeId]),
      [
        [`tx.${tx.id}.0`, 1, 'failed', 500, 1],
        [`tx.${tx.id}.0`, 2, 'failed', 503, 1],
        [`tx.${tx.id}.0`, 3, 'delivered', 200, 1],
      ],
    )
    assert.equal(log[log.length - 1].nodeId, 2)
    const lastSeq = Number(stored.find((e) => e.value.id === `tx.${tx.id}.3`)?.createRevision)
    await until('the progress to name the last event', 5000, async () => (await api.webhook(hook.id)).delivery.lastSeq === lastSeq)

    // The stream on node 2 had the same events, in order; a replay from 0 has them too.
    await until('the stream to have all four', 10_000, async () => streamed.length >= 4)
    stop.abort()
    await reading
    assert.deepEqual(
      streamed.map((e) => e.id),
      [0, 1, 2, 3].map((n) => `tx.${tx.id}.${n}`),
    )
    const replay: WalletEventDto[] = []
    for await (const e of api.events({ since: 0, follow: false })) replay.push(e)
    assert.deepEqual(
      replay.map((e) => e.seq),
      streamed.map((e) => e.seq),
    )
    // Resuming after the second one gives the last two.
    const resumed: WalletEventDto[] = []
    for await (const e of api.events({ follow: false }, { lastEventId: streamed[1].seq })) resumed.push(e)
    assert.deepEqual(
      resumed.map((e) => e.id),
      streamed.slice(2).map((e) => e.id),
    )
    await api.deleteWebhook(hook.id)
  })

  it('a deposit the chain has is announced; one written into the log by someone else is refused, never sent or streamed', async () => {
    const b = nodes[1]
    const hook = await api.createWebhook({ url: receiverUrl, events: ['deposit.*'] })
    // The leader's chain backend does not see it the first time it checks: retried, then delivered.
    lagging.add('d1'.repeat(32))
    chainDeposits.push(deposit('d1'.repeat(32), 0))
    await until('deposit.pending delivered', 20_000, async () => received.some((r) => r.event.id === `deposit.${'d1'.repeat(32)}.1.pending`))
    assert.deepEqual(
      (await api.webhookDeliveries(hook.id)).deliveries.reverse().map((d) => [d.eventId, d.outcome]),
      [
        [`deposit.${'d1'.repeat(32)}.1.pending`, 'failed'],
        [`deposit.${'d1'.repeat(32)}.1.pending`, 'delivered'],
      ],
    )
    chainDeposits[0] = deposit('d1'.repeat(32), 1)
    await until('deposit.confirmed delivered', 20_000, async () => received.some((r) => r.event.id === `deposit.${'d1'.repeat(32)}.1.confirmed`))
    const confirmed = received.find((r) => r.event.id === `deposit.${'d1'.repeat(32)}.1.confirmed`)!
    assert.equal(verifyWebhook(hook.secret, confirmed.headers['tw-signature'] as string, confirmed.body), null)
    assert.equal((confirmed.event.data as DepositDto).valueSats, 70_000)

    // Written straight into etcd (as a node with etcd credentials could), not on the chain.
    const forged = deposit('f0'.repeat(32), 6)
    await b.etcd.put(EventKeys.event(`deposit.${forged.txid}.1.confirmed`), { id: `deposit.${forged.txid}.1.confirmed`, type: 'deposit.confirmed', at: at(0), data: forged })
    await until('the forged event refused', 20_000, async () =>
      (await api.webhookDeliveries(hook.id)).deliveries.some((d) => d.eventId === `deposit.${forged.txid}.1.confirmed` && d.outcome === 'refused'),
    )
    assert.deepEqual(
      (await api.webhookDeliveries(hook.id)).deliveries
        .filter((d) => d.eventId.includes(forged.txid))
        .reverse()
        .map((d) => [d.attempt, d.outcome]),
      [
        [1, 'failed'],
        [2, 'failed'],
        [3, 'refused'],
      ],
      'checked again (the chain may lag), then refused',
    )
    assert.ok(!received.some((r) => r.event.id.includes(forged.txid)), 'never sent')
    const replay: WalletEventDto[] = []
    for await (const e of api.events({ types: ['deposit.*'], since: 0, follow: false })) replay.push(e)
    assert.deepEqual(
      replay.map((e) => e.type),
      ['deposit.pending', 'deposit.confirmed'],
      'the stream leaves it out too',
    )

    // A test ping from the node asked; a removed webhook gets nothing more.
    const ping = await api.testWebhook(hook.id)
    assert.deepEqual([ping.eventType, ping.outcome, ping.httpStatus, ping.nodeId], ['webhook.ping', 'delivered', 200, 2])
    await api.deleteWebhook(hook.id)
    assert.ok(!(await api.webhooks()).webhooks.some((w) => w.id === hook.id))
    const before = received.length
    chainDeposits.push(deposit('d2'.repeat(32), 1))
    await until('the other webhook... nothing: wait for the event itself', 20_000, async () =>
      b.log.since(0, ['deposit.*']).some((e) => e.id.startsWith(`deposit.${'d2'.repeat(32)}`)),
    )
    await new Promise((r) => setTimeout(r, 1500))
    assert.equal(received.length, before, 'nothing sent to a removed webhook')
  })

  it('a transaction event no node signed (written straight into etcd, or rewritten after signing) is never sent or streamed', async () => {
    const b = nodes[1]
    const hook = await api.createWebhook({ url: receiverUrl, events: ['transaction.*'] })
    const data = { id: 'forged', state: 'confirmed', txid: 'ee'.repeat(32) } as unknown as WalletEventDto['data']
    const unsignedId = 'tx.forged-unsigned.9'
    await b.etcd.put(EventKeys.event(unsignedId), { id: unsignedId, type: 'transaction.confirmed', at: at(0), data })
    const rewrittenId = 'tx.forged-rewritten.9'
    const signed = { id: rewrittenId, type: 'transaction.confirmed' as const, at: at(0), data, signedBy: 2 }
    await b.etcd.put(EventKeys.event(rewrittenId), { ...signed, data: { ...(data as object), txid: 'ff'.repeat(32) }, signature: signAs(2, eventBody(signed, 2)) })
    for (const id of [unsignedId, rewrittenId]) {
      await until(`${id} refused`, 20_000, async () => (await api.webhookDeliveries(hook.id)).deliveries.some((d) => d.eventId === id && d.outcome === 'refused'))
    }
    const refused = (await api.webhookDeliveries(hook.id)).deliveries.find((d) => d.eventId === unsignedId && d.outcome === 'refused')!
    assert.match(refused.error ?? '', /not signed by a node/)
    assert.ok(!received.some((r) => r.event.id.startsWith('tx.forged')), 'never sent')
    const replay: WalletEventDto[] = []
    for await (const e of api.events({ types: ['transaction.*'], since: 0, follow: false })) replay.push(e)
    assert.ok(replay.length > 0, 'the signed events are streamed')
    assert.ok(!replay.some((e) => e.id.startsWith('tx.forged')), 'the stream leaves the forged ones out')
    await api.deleteWebhook(hook.id)
  })

  it('bad webhook input gets a clear error; a webhook that never answers 2xx is given up and the next event goes', async () => {
    const bad = async (body: unknown, pattern: RegExp) =>
      assert.rejects(api.request('POST', '/api/v1/webhooks', body), (err: Error & { code?: string }) => err.code === 'VALIDATION_FAILED' && pattern.test(err.message))
    await bad({ url: 'ftp://example.com/x' }, /http\(s\)/)
    await bad({ url: 'http://127.0.0.1/x', events: ['transaction.bogus'] }, /event filter/)
    await bad({ url: 'http://127.0.0.1/x', events: ['*', '*'] }, /twice/)
    await bad({ url: 'https://user:secret@erp.example.com/x' }, /user name or password/)
    await assert.rejects(api.webhook('00000000-0000-4000-8000-000000000000'), (err: Error & { code?: string }) => err.code === 'NOT_FOUND')

    const b = nodes[1]
    const hook = await api.createWebhook({ url: receiverUrl, events: ['transaction.voting', 'transaction.approved'] })
    answers.push(500, 500, 500) // three attempts, all refused: given up
    const tx = txRecord('1b6f1d1e-4a57-4a4e-9b1e-8a3f7e1d2c3b', ['voting', 'approved'])
    await b.etcd.put(WalletKeys.tx(tx.id), tx)
    await until('the approved event delivered after the voting one was given up', 20_000, async () => received.some((r) => r.event.id === `tx.${tx.id}.1`))
    const log = (await api.webhookDeliveries(hook.id)).deliveries.reverse()
    assert.deepEqual(
      log.map((d) => [d.eventId, d.attempt, d.outcome]),
      [
        [`tx.${tx.id}.0`, 1, 'failed'],
        [`tx.${tx.id}.0`, 2, 'failed'],
        [`tx.${tx.id}.0`, 3, 'gave_up'],
        [`tx.${tx.id}.1`, 1, 'delivered'],
      ],
    )
  })
})
