// The addon's contract at the JavaScript boundary: stable err.code values, culprits, and
// arguments validated before anything runs.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'

const require = createRequire(import.meta.url)
const native = require('../index.js')
const dir = mkdtempSync(join(tmpdir(), 'tw-addon-spec-'))
after(() => rmSync(dir, { recursive: true, force: true }))

native.generateClusterCerts(join(dir, 'certs'), 5)
const read = (f) => readFileSync(join(dir, 'certs', f), 'utf8')

const options = (over = {}) => ({
  nodeId: 1,
  listen: '127.0.0.1:0',
  peers: { 2: '127.0.0.1:1', 3: '127.0.0.1:2', 4: '127.0.0.1:3', 5: '127.0.0.1:4' },
  caCertPem: read('ca.crt'),
  certPem: read('node-1.crt'),
  keyPem: read('node-1.key'),
  keystoreDir: join(dir, 'ks-1'),
  keystorePassphrase: 'correct horse',
  ...over,
})

test('certificates: node identity checked against the cluster CA', () => {
  const info = native.verifyNodeCertificate(read('ca.crt'), read('node-2.crt'), 2)
  assert.equal(info.nodeId, 2)
  assert.equal(info.isCa, false)
  assert.throws(
    () => native.verifyNodeCertificate(read('ca.crt'), read('node-2.crt'), 3),
    (e) => e.code === 'BAD_ARGUMENT' && /node 2/.test(e.message),
  )
  native.generateClusterCerts(join(dir, 'other'), 1)
  const foreignCa = readFileSync(join(dir, 'other', 'ca.crt'), 'utf8')
  assert.throws(
    () => native.verifyNodeCertificate(foreignCa, read('node-2.crt')),
    (e) => e.code === 'BAD_ARGUMENT' && /not signed by the cluster ca/.test(e.message),
  )
})

test('hashes: what the engine signs is derived from a preimage', () => {
  assert.equal(native.sha256d(Buffer.from('')).toString('hex'), '5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456')
  assert.throws(
    () => native.taprootSighash(Buffer.alloc(0)),
    (e) => e.code === 'BAD_ARGUMENT',
  )
  assert.equal(native.taprootSighash(Buffer.from('00', 'hex')).length, 32)
})

test('startNode: bad arguments are refused with BAD_ARGUMENT', async () => {
  await assert.rejects(native.startNode(options({ listen: 'not an address' })), (e) => e.code === 'BAD_ARGUMENT' && /listen/.test(e.message))
  await assert.rejects(
    native.startNode(options({ nodeId: 2, peers: { 1: '127.0.0.1:1', 3: '127.0.0.1:2', 4: '127.0.0.1:3', 5: '127.0.0.1:4' } })),
    (e) => e.code === 'BAD_ARGUMENT' && /certificate is for node 1/.test(e.message),
  )
  await assert.rejects(native.startNode(options({ keystorePassphrase: undefined })), (e) => e.code === 'BAD_ARGUMENT')
  await assert.rejects(native.startNode(options({ peers: { 2: '127.0.0.1:1' } })), (e) => e.code === 'BAD_ARGUMENT' && /peers must be/.test(e.message))
})

test('a running node: keystore locked to its passphrase, sessions and signer sets validated', async () => {
  const node = await native.startNode(options())
  try {
    assert.equal(node.nodeId, 1)
    assert.match(node.localAddr(), /^127\.0\.0\.1:\d+$/)
    assert.deepEqual(node.keyIds(), { ecdsa: [], frost: [] })
    assert.equal(node.primePoolSize(), 0)
    await assert.rejects(node.ecdsaAuxInfo('aux-1', 'aux'), (e) => e.code === 'NOT_FOUND' && /prime pool is empty/.test(e.message))
    await assert.rejects(node.frostSign('bad id!', 'k', [1, 2, 3, 4], [], Buffer.from('00', 'hex')), (e) => e.code === 'BAD_ARGUMENT' && /session id/.test(e.message))
    await assert.rejects(node.frostSign('s-1', 'k', [1, 2, 3], [], Buffer.from('00', 'hex')), (e) => e.code === 'BAD_ARGUMENT' && /signer set/.test(e.message))
    await assert.rejects(node.ecdsaSignWithPresignature('s-2', 'missing', 'p', Buffer.from('00', 'hex')), (e) => e.code === 'NOT_FOUND')
    assert.throws(
      () => node.frostOutputKey('missing', []),
      (e) => e.code === 'NOT_FOUND' && Array.isArray(e.culprits),
    )
    const peers = await node.probePeers()
    assert.equal(peers.length, 4)
    assert.ok(peers.every((p) => !p.reachable && p.error))
  } finally {
    node.shutdown()
  }
  await assert.rejects(native.startNode(options({ keystorePassphrase: 'wrong', listen: '127.0.0.1:0' })), (e) => e.code === 'KEYSTORE_LOCKED')
})
