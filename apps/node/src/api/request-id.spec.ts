import 'reflect-metadata'
import { Controller, Get, Logger, Module, type INestApplication } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { NodeLogger } from '../common/node-logger'
import { currentRequestId } from '../common/request-context'
import { jsonLines, stdoutOf } from '../testing/stdout'
import { configureApp } from './configure-app'

@Controller('probe')
class ProbeController {
  private readonly log = new Logger('Probe')
  @Get()
  async probe(): Promise<{ requestId: string | null }> {
    await new Promise((r) => setTimeout(r, 5)) // across an await, the id is still there
    this.log.log('probe handled')
    return { requestId: currentRequestId() }
  }
}
@Module({ controllers: [ProbeController] })
class ProbeModule {}

describe('configureApp: every request runs under a request id', () => {
  let app: INestApplication
  let base: string
  const logged: Record<string, unknown>[] = []
  before(async () => {
    const logger = new NodeLogger(2, { levels: ['log'], json: true })
    app = await NestFactory.create(ProbeModule, { logger })
    configureApp(app)
    await app.listen(0, '127.0.0.1')
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/probe`
  })
  after(() => app?.close())

  it("the client's X-Request-Id is echoed and seen by the handler and its log line; without one the node makes one", async () => {
    const lines = await stdoutOf(async () => {
      const given = await fetch(base, { headers: { 'x-request-id': 'order-77' } })
      assert.equal(given.headers.get('x-request-id'), 'order-77')
      assert.deepEqual(await given.json(), { requestId: 'order-77' })
      const made = await fetch(base)
      const id = made.headers.get('x-request-id') ?? ''
      assert.match(id, /^[0-9a-f-]{36}$/)
      assert.deepEqual(await made.json(), { requestId: id })
    })
    logged.push(...jsonLines(lines).filter((l) => l.message === 'probe handled'))
    assert.equal(logged.length, 2)
    assert.equal(logged[0].requestId, 'order-77')
    assert.equal(logged[0].node, 2)
  })
})
