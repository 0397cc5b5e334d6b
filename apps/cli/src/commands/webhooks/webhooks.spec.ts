import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, test } from 'node:test'
import type { WalletEventDto, WebhookDeliveryDto, WebhookDto } from '@tw/api'
import { JsonServer, reply, startJsonServer } from '../../testing/json-server'
import { runCommand } from '../../testing/run-command'
import Events, { type EventsResult } from '../events'
import WebhooksAdd from './add'
import WebhooksDeliveries from './deliveries'
import WebhooksList from './list'
import WebhooksRemove from './remove'
import WebhooksTest from './test'

const ID = '0b6f1d1e-4a57-4a4e-9b1e-8a3f7e1d2c3b'
const hook: WebhookDto = {
  id: ID,
  url: 'https://erp.example.com/hook',
  events: ['deposit.*'],
  description: 'credit deposits',
  createdAt: '2026-01-01T00:00:00Z',
  delivery: { lastSeq: 41, retrying: { eventId: 'tx.a.1', attempts: 2, nextAttemptAt: '2026-01-01T00:01:00Z' } },
}
const delivery = (outcome: WebhookDeliveryDto['outcome']): WebhookDeliveryDto => ({
  webhookId: ID,
  eventId: 'webhook.ping',
  eventType: 'webhook.ping',
  seq: null,
  attempt: 1,
  outcome,
  httpStatus: outcome === 'delivered' ? 204 : 500,
  error: outcome === 'delivered' ? null : 'HTTP 500',
  durationMs: 12,
  nodeId: 3,
  at: '2026-01-01T00:00:00Z',
})
let pingOutcome: WebhookDeliveryDto['outcome'] = 'delivered'
let server: JsonServer
const events: WalletEventDto[] = [
  {
    id: 'tx.a.0',
    seq: 10,
    type: 'transaction.voting',
    at: '2026-01-01T00:00:00Z',
    data: { transactionId: 'a', type: 'taproot', amountSats: 5000, txid: null, error: null } as never,
  },
  {
    id: 'deposit.bb.1.confirmed',
    seq: 12,
    type: 'deposit.confirmed',
    at: '2026-01-01T00:00:01Z',
    data: { txid: 'bb', vout: 1, valueSats: 70_000, address: 'bcrt1qours', confirmations: 1 } as never,
  },
]
let sse: Server
let sseUrl: string
const sseRequests: { url: string; lastEventId?: string }[] = []

before(async () => {
  server = await startJsonServer((req) => {
    if (req.method === 'POST' && req.url === '/api/v1/webhooks') {
      const b = req.body as { url: string; events?: string[]; description?: string }
      if (!b.url.startsWith('http')) return reply(400, { error: { code: 'VALIDATION_FAILED', message: 'url must be an http(s) URL' } })
      return reply(201, { ...hook, url: b.url, events: b.events ?? ['*'], description: b.description ?? null, secret: 'whsec_' + 'S'.repeat(43) })
    }
    if (req.method === 'GET' && req.url === '/api/v1/webhooks') return reply(200, { webhooks: [hook] })
    if (req.method === 'DELETE' && req.url === `/api/v1/webhooks/${ID}`) return reply(200, hook)
    if (req.method === 'POST' && req.url === `/api/v1/webhooks/${ID}/test`) return reply(200, delivery(pingOutcome))
    if (req.method === 'GET' && req.url === `/api/v1/webhooks/${ID}/deliveries?limit=5`) return reply(200, { deliveries: [delivery('delivered'), delivery('failed')] })
    return reply(404, { error: { code: 'NOT_FOUND', message: `no webhook` } })
  })
  // A node's event stream: the events after `since` (or Last-Event-ID); follow=false closes after them.
  sse = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x')
    sseRequests.push({ url: req.url ?? '', lastEventId: req.headers['last-event-id'] as string | undefined })
    if (u.searchParams.get('types') === 'deposit.pending' && !u.searchParams.has('since')) {
      // A node that restarts right after naming where the stream starts: the client comes back from there.
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.end('retry: 3000\nid: 12\n\n')
      return
    }
    if (u.searchParams.get('types') === 'deposit.pending' && u.searchParams.get('since') === '12') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const e = {
        id: 'deposit.cc.0.pending',
        seq: 13,
        type: 'deposit.pending',
        at: '2026-01-01T00:00:02Z',
        data: { txid: 'cc', vout: 0, valueSats: 1000, address: 'bcrt1qours', confirmations: 0 },
      }
      res.write(`id: 13\nevent: deposit.pending\ndata: ${JSON.stringify(e)}\n\n`)
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(': hello\n\n')
    const types = u.searchParams.get('types')?.split(',') ?? []
    const after = Number(u.searchParams.get('since') ?? 0)
    for (const e of events)
      if (e.seq > after && (types.length === 0 || types.some((t) => e.type.startsWith(t.replace('*', '')))))
        res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)
    if (u.searchParams.get('follow') === 'false') res.end()
  })
  await new Promise<void>((r) => sse.listen(0, '127.0.0.1', r))
  sseUrl = `http://127.0.0.1:${(sse.address() as AddressInfo).port}`
})
after(async () => {
  await server.close()
  sse.closeAllConnections()
  sse.close()
})

test('webhooks add prints the secret once; list never does; remove, deliveries', async () => {
  const add = await runCommand<{ secret: string; events: string[] }>(WebhooksAdd, [
    '--node',
    server.url,
    '--url',
    'https://erp.example.com/hook',
    '--event',
    'deposit.*',
    '--event',
    'transaction.confirmed',
    '--json',
  ])
  assert.equal(add.exitCode, 0, add.stderr)
  assert.deepEqual(add.result?.events, ['deposit.*', 'transaction.confirmed'])
  assert.match(add.result?.secret ?? '', /^whsec_/)
  const human = await runCommand(WebhooksAdd, ['--node', server.url, '--url', 'https://erp.example.com/hook'])
  assert.match(human.stdout, /Secret:\s+whsec_S+/)
  assert.match(human.stdout, /not shown again/)
  const bad = await runCommand(WebhooksAdd, ['--node', server.url, '--url', 'https://x', '--event', 'transaction.bogus'])
  assert.equal(bad.exitCode, 2, 'an unknown event type is a usage error')
  const refused = await runCommand(WebhooksAdd, ['--node', server.url, '--url', 'ftp://x'])
  assert.equal(refused.exitCode, 1)
  assert.match(refused.stderr, /VALIDATION_FAILED.*http\(s\)/)

  const list = await runCommand(WebhooksList, ['--node', server.url])
  assert.match(list.stdout, /erp\.example\.com.*deposit\.\*.*41.*tx\.a\.1 \(2 tries\)/)
  assert.doesNotMatch(list.stdout, /whsec_/)
  const deliveries = await runCommand<{ deliveries: WebhookDeliveryDto[] }>(WebhooksDeliveries, ['--node', server.url, ID, '--limit', '5', '--json'])
  assert.deepEqual(
    deliveries.result?.deliveries.map((d) => d.outcome),
    ['delivered', 'failed'],
  )
  const removed = await runCommand(WebhooksRemove, ['--node', server.url, ID])
  assert.match(removed.stdout, new RegExp(`Webhook ${ID} .* removed`))
  const missing = await runCommand(WebhooksRemove, ['--node', server.url, '1b6f1d1e-4a57-4a4e-9b1e-8a3f7e1d2c3b'])
  assert.equal(missing.exitCode, 1)
  assert.match(missing.stderr, /NOT_FOUND/)
})

test('webhooks test: delivered says so (exit 0); a URL that does not take it is WEBHOOK_FAILED (exit 1)', async () => {
  pingOutcome = 'delivered'
  const ok = await runCommand(WebhooksTest, ['--node', server.url, ID])
  assert.equal(ok.exitCode, 0, ok.stderr)
  assert.match(ok.stdout, /Delivered: HTTP 204 in 12 ms \(from node 3\)/)
  pingOutcome = 'gave_up'
  const failed = await runCommand(WebhooksTest, ['--node', server.url, ID, '--json'])
  assert.equal(failed.exitCode, 1)
  assert.match(failed.stdout, /"code":"WEBHOOK_FAILED".*HTTP 500/)
})

test('events: the replay as lines or one JSON object; filters and since reach the node; --limit stops a followed stream', async () => {
  const human = await runCommand(Events, ['--node', sseUrl, '--since', '0', '--no-follow'])
  assert.equal(human.exitCode, 0, human.stderr)
  assert.match(human.stdout, /#10 .*transaction\.voting\s+a taproot 5000 sats/)
  assert.match(human.stdout, /#12 .*deposit\.confirmed\s+70000 sats to bcrt1qours in bb:1 \(1 conf\)/)
  const json = await runCommand<EventsResult>(Events, ['--node', sseUrl, '--since', '11', '--type', 'deposit.*', '--no-follow', '--json'])
  assert.deepEqual(
    json.result?.events.map((e) => e.id),
    ['deposit.bb.1.confirmed'],
  )
  assert.match(sseRequests.at(-1)?.url ?? '', /types=deposit\.\*&since=11&follow=false/)
  // Followed (the fake node keeps it open): --limit ends it after the events asked for.
  const limited = await runCommand<EventsResult>(Events, ['--node', sseUrl, '--since', '0', '--limit', '2', '--json'])
  assert.equal(limited.exitCode, 0, limited.stderr)
  assert.deepEqual(
    limited.result?.events.map((e) => e.seq),
    [10, 12],
  )
})

test('events: a followed stream the node closes is opened again from where it started, nothing missed', async () => {
  const r = await runCommand<EventsResult>(Events, ['--node', sseUrl, '--type', 'deposit.pending', '--limit', '1', '--json'])
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(
    r.result?.events.map((e) => e.seq),
    [13],
  )
  assert.match(r.stderr, /closed the stream; opening it again in 2 s/)
  assert.match(sseRequests.at(-1)?.url ?? '', /types=deposit\.pending&since=12&follow=true/)
})
