import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { NodeLogger } from './node-logger'
import { requestIdFrom, withRequestId } from './request-context'
import { jsonLines, stdoutOf } from '../testing/stdout'

describe('NodeLogger: JSON lines for log pipelines, carrying the request id', () => {
  it('TW_LOG_FORMAT=json: one JSON object per line with level, context, message, node; requestId only inside a request', async () => {
    const logger = new NodeLogger(3, { levels: ['log', 'warn', 'error'], json: true })
    const lines = await stdoutOf(() => {
      logger.log('outside any request', 'Send')
      withRequestId('req-42', () => logger.log('transaction t1: voting → approved', 'TxCoordinator'))
    })
    const [outside, inside] = jsonLines(lines)
    assert.equal(outside.message, 'outside any request')
    assert.equal(outside.context, 'Send')
    assert.equal(outside.level, 'log')
    assert.equal(outside.node, 3)
    assert.equal('requestId' in outside, false)
    assert.equal(inside.requestId, 'req-42')
    assert.equal(inside.message, 'transaction t1: voting → approved')
  })

  it('text: the line ends with [req <id>] inside a request', async () => {
    const logger = new NodeLogger(1, { levels: ['log'], json: false })
    const [line] = (await stdoutOf(() => withRequestId('req-7', () => logger.log('hello', 'X')))).filter((l) => l.includes('hello'))
    assert.match(line, /hello.* \[req req-7\]$/)
  })

  it('a client X-Request-Id is kept only if sane; otherwise a fresh UUID', () => {
    assert.equal(requestIdFrom('order-1234'), 'order-1234')
    for (const bad of [undefined, '', 'has space', 'x'.repeat(129), 'ünï']) assert.match(requestIdFrom(bad), /^[0-9a-f-]{36}$/)
  })
})
