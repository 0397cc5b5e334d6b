// verifyScript: Bitcoin Core's consensus interpreter (libbitcoinconsensus, via the engine) on a
// P2WPKH spend built and signed here with @noble/curves, and on the same spend broken.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'

const require = createRequire(import.meta.url)
const native = require('../index.js')

const sha256 = (b) => createHash('sha256').update(b).digest()
const sha256d = (b) => sha256(sha256(b))
const hash160 = (b) => createHash('ripemd160').update(sha256(b)).digest()
const u32 = (n) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n)
  return b
}
const u64 = (n) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt(n))
  return b
}
const withLen = (b) => Buffer.concat([Buffer.from([b.length]), b])

const sk = new Uint8Array(32).fill(3)
const pub = Buffer.from(secp256k1.getPublicKey(sk, true))
const pkh = hash160(pub)
const spk = Buffer.concat([Buffer.from('0014', 'hex'), pkh])
const amount = 100_000
const outpoint = Buffer.concat([Buffer.alloc(32, 0xab), u32(1)])
const sequence = u32(0xfffffffd)
const output = Buffer.concat([u64(amount - 1_000), withLen(spk)])

/** A version-2, one-input, one-output P2WPKH spend signed over `signedAmount` (BIP143). */
function spend(signedAmount) {
  const preimage = Buffer.concat([
    u32(2),
    sha256d(outpoint),
    sha256d(sequence),
    outpoint,
    Buffer.concat([Buffer.from('1976a914', 'hex'), pkh, Buffer.from('88ac', 'hex')]),
    u64(signedAmount),
    sequence,
    sha256d(output),
    u32(0),
    u32(1),
  ])
  const sig = Buffer.concat([Buffer.from(secp256k1.sign(sha256d(preimage), sk, { prehash: false, format: 'der' })), Buffer.from([1])])
  return {
    sig,
    tx: Buffer.concat([
      u32(2),
      Buffer.from('0001', 'hex'),
      Buffer.from([1]),
      outpoint,
      Buffer.from([0]),
      sequence,
      Buffer.from([1]),
      output,
      Buffer.from([2]),
      withLen(sig),
      withLen(pub),
      u32(0),
    ]),
  }
}

test('verifyScript: a valid P2WPKH spend passes', () => {
  const { tx } = spend(amount)
  assert.equal(native.verifyScript(tx, 0, [{ scriptPubkey: spk, value: amount }]), undefined)
})

test('verifyScript: a broken spend fails with INVALID_SIGNATURE, bad input with BAD_ARGUMENT', () => {
  const { tx, sig } = spend(amount)
  const bad = Buffer.from(tx)
  bad[bad.indexOf(sig) + 10] ^= 1 // inside the signature's r
  assert.throws(
    () => native.verifyScript(bad, 0, [{ scriptPubkey: spk, value: amount }]),
    (e) => e.code === 'INVALID_SIGNATURE' && /^input 0: script verification failed \(ERR_SCRIPT\)$/.test(e.message),
  )
  // Signed over a different amount than the output holds.
  assert.throws(
    () => native.verifyScript(spend(amount + 1).tx, 0, [{ scriptPubkey: spk, value: amount }]),
    (e) => e.code === 'INVALID_SIGNATURE',
  )
  // Spent outputs must cover every input; index in range; tx well formed; values integral.
  assert.throws(
    () => native.verifyScript(tx, 0, []),
    (e) => e.code === 'BAD_ARGUMENT',
  )
  assert.throws(
    () =>
      native.verifyScript(tx, 1, [
        { scriptPubkey: spk, value: amount },
        { scriptPubkey: spk, value: amount },
      ]),
    (e) => e.code === 'BAD_ARGUMENT',
  )
  assert.throws(
    () => native.verifyScript(tx.subarray(0, 20), 0, [{ scriptPubkey: spk, value: amount }]),
    (e) => e.code === 'BAD_ARGUMENT',
  )
  assert.throws(
    () => native.verifyScript(tx, 0, [{ scriptPubkey: spk, value: 1.5 }]),
    (e) => e.code === 'BAD_ARGUMENT' && /spentOutputs\[0\]\.value/.test(e.message),
  )
})
