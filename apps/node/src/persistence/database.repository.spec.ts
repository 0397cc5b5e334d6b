import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DependencyUnavailableError } from '../common/errors'
import { freePort } from '../testing/etcd'
import { DatabaseRepository } from './database.repository'

describe('DatabaseRepository without a database', () => {
  it('starts degraded and answers DEPENDENCY_UNAVAILABLE instead of hanging or crashing', async () => {
    const port = await freePort() // nothing listens there
    const sut = new DatabaseRepository({ database: { url: `postgres://postgres@127.0.0.1:${port}/none` } })
    assert.equal(await sut.start(500), false)
    assert.equal(sut.isReady, false)
    await assert.rejects(sut.ping(), DependencyUnavailableError)
    await assert.rejects(
      sut.transaction(async () => 1),
      (err: unknown) => err instanceof DependencyUnavailableError && err.code === 'DEPENDENCY_UNAVAILABLE' && err.httpStatus === 503,
    )
    await sut.stop()
  })
})
