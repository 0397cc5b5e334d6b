// Runs the five-process example and checks every signature it prints with an independent
// implementation (@noble/curves), not with the engine that made them.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js'

const example = fileURLToPath(new URL('../examples/five-party.mjs', import.meta.url))
const sha256 = (b) => createHash('sha256').update(b).digest()

test('five processes over QUIC+mTLS produce signatures an independent verifier accepts', { timeout: 900_000 }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [example], { maxBuffer: 1 << 20, timeout: 900_000 })
  const lines = stdout.trim().split('\n')
  assert.equal(lines.length, 1, 'exactly one line of JSON on stdout')
  const out = JSON.parse(lines[0])

  const pub = Buffer.from(out.ecdsa.publicKey, 'hex')
  assert.equal(pub.length, 33)
  const digest = sha256(sha256(Buffer.from(out.ecdsa.preimage, 'hex')))
  assert.equal(out.ecdsa.digest, digest.toString('hex'), 'digest is SHA256(SHA256(preimage))')
  assert.equal(out.ecdsa.signatures.length, 2)
  for (const hex of out.ecdsa.signatures) {
    const sig = Buffer.from(hex, 'hex')
    assert.equal(sig.length, 64)
    assert.ok(secp256k1.verify(sig, digest, pub, { prehash: false, lowS: true, format: 'compact' }), 'ECDSA signature verifies (low-S)')
    const tampered = Buffer.from(digest)
    tampered[0] ^= 1
    assert.ok(!secp256k1.verify(sig, tampered, pub, { prehash: false, format: 'compact' }), 'and not for another digest')
  }

  const outputKey = Buffer.from(out.schnorr.outputKey, 'hex')
  const msg = Buffer.from(out.schnorr.message, 'hex')
  const sig = Buffer.from(out.schnorr.signature, 'hex')
  assert.equal(outputKey.length, 32)
  assert.equal(msg.length, 32)
  assert.equal(sig.length, 64)
  assert.ok(schnorr.verify(sig, msg, outputKey), 'BIP340 signature verifies against the Taproot output key')
  const other = Buffer.from(msg)
  other[31] ^= 1
  assert.ok(!schnorr.verify(sig, other, outputKey))
})
