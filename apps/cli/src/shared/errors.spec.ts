import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ApiError } from '@tw/api'
import { CliError, EXIT_FAILURE, toCliError } from './errors'

test('API errors keep the server code and say the HTTP status', () => {
  const e = toCliError(new ApiError(409, 'KEY_EXISTS', 'an ecdsa key exists'))
  assert.equal(e.code, 'KEY_EXISTS')
  assert.equal(e.message, 'an ecdsa key exists (HTTP 409)')
  assert.equal(e.exitCode, EXIT_FAILURE)
})

test('an unreachable node becomes NODE_UNREACHABLE with a hint', () => {
  const e = toCliError(new ApiError(0, 'UNREACHABLE', 'GET http://x/api/v1/keys: fetch failed'))
  assert.equal(e.code, 'NODE_UNREACHABLE')
  assert.match(e.message, /--node/)
})

test('engine errors keep their code; anything else is INTERNAL, on one line', () => {
  assert.equal(toCliError(Object.assign(new Error('bad'), { code: 'BAD_ARGUMENT' })).code, 'BAD_ARGUMENT')
  const e = toCliError(new Error('first\nsecond'))
  assert.equal(e.code, 'INTERNAL')
  assert.doesNotMatch(e.message, /\n/)
})

test('CliError passes through', () => {
  const orig = new CliError('X', 'y', 3)
  assert.equal(toCliError(orig), orig)
})
