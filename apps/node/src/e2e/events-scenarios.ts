import { verifyWebhook, type DepositDto, type TransactionEventData, type WalletEventDto } from '@tw/api'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { it } from 'node:test'
import { until as poll } from '../testing/until'
import { testAddress, walletHelpers, type WalletScenarioContext } from './wallet-scenarios'

const until = <T>(what: string, ms: number, probe: () => Promise<T | undefined | null | false>) => poll(what, ms, probe, 500)

interface Delivery {
  body: string
  event: WalletEventDto
  signature: string
  attempt: string
}

/**
 * Events on the real five-node cluster (issue 16 item 5): a deposit and a send, seen as a
 * signed webhook by a receiver the test runs and as the event stream of another node.
 */
export function eventScenarios(ctx: WalletScenarioContext): void {
  const { chainPost, mine } = walletHelpers(ctx)

  it('events: a deposit and a send reach a webhook (HMAC verified, a failed delivery retried) and the event stream of another node', async () => {
    const deliveries: Delivery[] = []
    let refuseNext = 1 // the first delivery gets a 500: retried
    const receiver = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        deliveries.push({ body, event: JSON.parse(body) as WalletEventDto, signature: String(req.headers['tw-signature']), attempt: String(req.headers['tw-delivery-attempt']) })
        res.statusCode = refuseNext-- > 0 ? 500 : 204
        res.end()
      })
    })
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
    const stop = new AbortController()
    const [viaHook, viaStream] = ctx.up().slice(-2)
    const hook = await ctx.client(viaHook).createWebhook({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/treasury`, events: ['deposit.*', 'transaction.*'] })
    try {
      const streamed: WalletEventDto[] = []
      const reading = (async () => {
        for await (const e of ctx.client(viaStream).events({ types: ['deposit.*', 'transaction.*'], since: 0 }, { signal: stop.signal })) streamed.push(e)
      })()
      const api = ctx.client(ctx.up()[0])

      // A deposit from outside: announced once confirmed, for exactly the address and amount.
      const { address } = await api.address('taproot')
      const { txid } = await chainPost<{ txid: string }>('/regtest/faucet', { address, amountSats: 40_000 })
      await mine(1)
      const deposit = await until('deposit.confirmed at the webhook', 90_000, async () =>
        deliveries.find((d) => d.event.type === 'deposit.confirmed' && (d.event.data as DepositDto).txid === txid),
      )
      const paid = deposit.event.data as DepositDto
      assert.deepEqual([paid.address, paid.valueSats, paid.type, paid.confirmations >= 1, paid.fromWallet], [address, 40_000, 'taproot', true, false])

      // A send: every state it goes through, in order, ending confirmed.
      const sent = await api.send({ to: testAddress(), amountSats: 10_000, feeRate: 2, type: 'taproot', memo: 'events e2e' }, randomUUID())
      await until(`send ${sent.id} broadcast`, 4 * 60_000, async () => ['broadcast', 'confirmed'].includes((await api.transaction(sent.id)).state))
      await mine(1)
      await until('transaction.confirmed at the webhook', 90_000, async () =>
        deliveries.some((d) => d.event.type === 'transaction.confirmed' && (d.event.data as TransactionEventData).transactionId === sent.id),
      )
      for (const d of deliveries) assert.equal(verifyWebhook(hook.secret, d.signature, d.body), null, `${d.event.id}: signed with the webhook's secret`)
      const ofSend = (events: WalletEventDto[]) => [...new Set(events.filter((e) => (e.data as TransactionEventData).transactionId === sent.id).map((e) => e.type))]
      const states = ofSend(deliveries.map((d) => d.event))
      assert.deepEqual(states.slice(-2), ['transaction.broadcast', 'transaction.confirmed'], states.join(' '))
      assert.ok(states.includes('transaction.voting') && states.includes('transaction.signing'), states.join(' '))
      const confirmed = deliveries.find((d) => d.event.type === 'transaction.confirmed' && (d.event.data as TransactionEventData).transactionId === sent.id)!
      assert.equal((confirmed.event.data as TransactionEventData).memo, 'events e2e')
      assert.match((confirmed.event.data as TransactionEventData).txid ?? '', /^[0-9a-f]{64}$/)
      // The first delivery was refused and retried; deliveries never went back in seq order.
      assert.equal(deliveries[0].attempt, '1')
      assert.equal(deliveries[1].event.id, deliveries[0].event.id)
      assert.equal(deliveries[1].attempt, '2')
      const seqs = deliveries.map((d) => d.event.seq)
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
      )

      // The stream of another node saw the same deposit and the same states of the send.
      await until('the stream to see the send confirmed', 30_000, async () => ofSend(streamed).includes('transaction.confirmed'))
      assert.ok(streamed.some((e) => e.type === 'deposit.confirmed' && (e.data as DepositDto).txid === txid))
      assert.deepEqual(ofSend(streamed), states)

      // The delivery log names the failure and the leader that delivered.
      const log = (await ctx.client(viaStream).webhookDeliveries(hook.id, 1000)).deliveries
      assert.ok(log.some((d) => d.outcome === 'failed' && d.httpStatus === 500))
      assert.ok(log.some((d) => d.outcome === 'delivered' && d.httpStatus === 204 && d.eventId === confirmed.event.id))
      stop.abort()
      await reading
    } finally {
      stop.abort()
      await ctx
        .client(viaHook)
        .deleteWebhook(hook.id)
        .catch(() => undefined)
      receiver.close()
    }
  })
}
