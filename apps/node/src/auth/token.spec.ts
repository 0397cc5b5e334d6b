import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { joinRoute, routeAccess } from './roles'
import { bearerToken, generateToken, hashToken, isWellFormedToken, roleAllows, sameDigest } from './token'

describe('tokens and route rules', () => {
  it('generates tw_<base64url of 32 bytes>, distinct each time, hashed with SHA-256', () => {
    const a = generateToken()
    assert.match(a, /^tw_[A-Za-z0-9_-]{43}$/)
    assert.notEqual(a, generateToken())
    assert.equal(isWellFormedToken(a), true)
    assert.match(hashToken(a), /^[0-9a-f]{64}$/)
    assert.equal(sameDigest(hashToken(a), hashToken(a)), true)
    assert.equal(sameDigest(hashToken(a), hashToken('x')), false)
    assert.equal(sameDigest('', ''), false)
  })

  it('reads only "Bearer tw_..." headers', () => {
    const t = generateToken()
    assert.equal(bearerToken(undefined), null)
    assert.equal(bearerToken(`Bearer ${t}`), t)
    assert.equal(bearerToken(`bearer  ${t}`), t)
    for (const bad of ['', 'Bearer', `Basic ${t}`, `Bearer ${t} extra`, 'Bearer tw_short', `Bearer ${t.slice(3)}`]) assert.equal(bearerToken(bad), '', bad)
  })

  it('roles nest: admin ⊃ operator ⊃ viewer', () => {
    assert.equal(roleAllows('admin', 'operator'), true)
    assert.equal(roleAllows('operator', 'viewer'), true)
    assert.equal(roleAllows('operator', 'admin'), false)
    assert.equal(roleAllows('viewer', 'operator'), false)
  })

  it('route rules: GET → viewer, other methods → admin unless declared; monitoring open unless required', () => {
    assert.equal(joinRoute('api/v1/keys', ':id'), '/api/v1/keys/:id')
    assert.equal(joinRoute('health', ''), '/health')
    assert.equal(joinRoute('/api/v1/', '/'), '/api/v1')
    assert.deepEqual(routeAccess('GET', '/api/v1/keys', undefined, false), { open: false, role: 'viewer', sensitive: false })
    assert.deepEqual(routeAccess('POST', '/api/v1/new-thing', undefined, false), { open: false, role: 'admin', sensitive: true })
    assert.deepEqual(routeAccess('POST', '/api/v1/transactions', 'operator', false), { open: false, role: 'operator', sensitive: true })
    assert.deepEqual(routeAccess('GET', '/health/live', undefined, true), { open: true })
    for (const p of ['/health', '/health/ready', '/metrics']) {
      assert.deepEqual(routeAccess('GET', p, undefined, false), { open: true })
      assert.deepEqual(routeAccess('GET', p, undefined, true), { open: false, role: 'viewer', sensitive: false })
    }
  })
})
