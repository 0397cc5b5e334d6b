import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { AppConfig } from '../config/config'
import { FakeEtcd } from '../testing/fake-etcd'
import { isPrivateAddress, postWebhook, PRIVATE_ADDRESS, privateUrlReason, type Resolve } from './webhook-post'
import { WebhooksService } from './webhooks.service'

// A webhook URL is an admin's input and its record lives in etcd: by default neither may make a
// node POST into the network it runs in (loopback, private ranges, the cloud metadata address).

describe('webhooks never reach private addresses unless allowed', () => {
  let receiver: Server
  let port = 0
  let received = 0

  before(async () => {
    receiver = createServer((req, res) => {
      received++
      req.resume()
      res.writeHead(200).end('ok')
    })
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
    port = (receiver.address() as AddressInfo).port
  })
  after(() => new Promise<void>((r) => receiver.close(() => r())))

  it('classifies addresses and URL spellings', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.31.255.255',
      '192.168.0.10',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '255.255.255.255',
      '224.0.0.1',
      '::1',
      '::',
      'fe80::1',
      'fd12::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      'ff02::1',
    ]) {
      assert.equal(isPrivateAddress(a), true, a)
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '1.1.1.1', '2001:4860:4860::8888', 'example.com']) assert.equal(isPrivateAddress(a), false, a)
    for (const u of [
      'http://127.0.0.1:8080/x',
      'http://[::1]/',
      'http://LOCALHOST/',
      'https://hooks.localhost/',
      'http://169.254.169.254/latest/meta-data',
      'http://2130706433/',
      'http://0x7f.1/',
    ]) {
      assert.ok(privateUrlReason(u), u)
    }
    assert.equal(privateUrlReason('https://erp.example.com/hooks'), null)
  })

  it('a POST to a private address, by literal or by a name resolving there, is refused before anything is sent; allowed, it goes', async () => {
    const toLoopback: Resolve = (_host, _opts, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }])
    const opts = { timeoutMs: 2000, allowPrivate: false, resolve: toLoopback }
    for (const url of [`http://127.0.0.1:${port}/hook`, `http://hooks.example.test:${port}/hook`]) {
      await assert.rejects(postWebhook(url, {}, '{}', opts), (e: Error & { code?: string }) => e.code === PRIVATE_ADDRESS && !e.message.includes('http'), url)
    }
    assert.equal(received, 0, 'nothing reached the receiver')
    assert.equal(await postWebhook(`http://127.0.0.1:${port}/hook`, { 'content-type': 'application/json' }, '{}', { ...opts, allowPrivate: true }), 200)
    assert.equal(received, 1)
  })

  it('adding a webhook to a private address is refused with the reason and the setting that allows it', async () => {
    const config = { nodeId: 1, events: { webhookAllowPrivate: false } } as unknown as AppConfig
    const etcd = new FakeEtcd()
    const svc = new WebhooksService(config, etcd as never, {} as never, {} as never, {} as never, { record: async () => undefined } as never, {} as never)
    await assert.rejects(
      svc.create({ url: 'http://169.254.169.254/latest/meta-data' }, 'test'),
      (e: Error & { code?: string }) => e.code === 'VALIDATION_FAILED' && /private, loopback or link-local/.test(e.message) && /TW_WEBHOOK_ALLOW_PRIVATE=true/.test(e.message),
    )
    assert.deepEqual(etcd.keys('/tw/'), [], 'nothing stored')
    const made = await svc.create({ url: 'https://erp.example.com/hooks' }, 'test')
    assert.match(made.secret, /^whsec_/)
  })
})
