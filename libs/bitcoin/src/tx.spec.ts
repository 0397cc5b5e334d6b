import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import * as ecc from '@bitcoinerlab/secp256k1'
import { BIP32Factory, type BIP32Interface } from 'bip32'
import { networks, Psbt, script as bscript, Transaction } from 'bitcoinjs-lib'
import {
  attachWitnesses,
  BitcoinError,
  buildUnsignedTransaction,
  decodeTransaction,
  deriveEcdsaChild,
  deriveTaprootOutputKey,
  estimateVsize,
  segwitAddress,
  segwitSighashPreimage,
  taprootAddress,
  taprootSighash,
  inputSignatureValid,
  taprootSigMsg,
  toPsbt,
  transactionId,
  type KeyType,
  type TxInput,
} from './index'
import { BIP341 } from './vectors'

const bip32 = BIP32Factory(ecc)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const unhex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest()
const sha256d = (b: Uint8Array) => new Uint8Array(sha256(sha256(b)))
const hash160 = (b: Uint8Array) => createHash('ripemd160').update(sha256(b)).digest()
const code = (c: string) => (e: unknown) => e instanceof BitcoinError && e.code === c
const tapTweak = (x: Uint8Array) => {
  const tag = sha256(Buffer.from('TapTweak'))
  return new Uint8Array(createHash('sha256').update(tag).update(tag).update(x).digest())
}

// Two HD roots standing in for the threshold keys: the ECDSA key for segwit, the FROST key for taproot.
const segwitRoot = bip32.fromSeed(Buffer.alloc(32, 1))
const taprootRoot = bip32.fromSeed(Buffer.alloc(32, 2))
const roots: Record<KeyType, BIP32Interface> = { segwit: segwitRoot, taproot: taprootRoot }
const keys = {
  segwit: { publicKey: segwitRoot.publicKey, chainCode: segwitRoot.chainCode },
  taproot: { publicKey: taprootRoot.publicKey, chainCode: taprootRoot.chainCode },
}

function ownedInput(keyType: KeyType, path: number[], value: number, n: number): TxInput {
  const k = keys[keyType]
  const scriptPubKey =
    keyType === 'segwit'
      ? segwitAddress(deriveEcdsaChild(k.publicKey, k.chainCode, path), 'regtest').scriptPubKey
      : taprootAddress(deriveTaprootOutputKey(k.publicKey, k.chainCode, path), 'regtest').scriptPubKey
  return { txid: hex(sha256(Buffer.from([n]))), vout: n, value, scriptPubKey, keyType, path }
}

function childPrivateKey(keyType: KeyType, path: number[]): Uint8Array {
  let node = roots[keyType]
  for (const i of path) node = node.derive(i)
  return node.privateKey!
}

/** BIP341 key-path private key: negate for odd Y, then add the BIP86 tweak. */
function tweakedPrivateKey(path: number[]): Uint8Array {
  let d = childPrivateKey('taproot', path)
  const pub = ecc.pointFromScalar(d, true)!
  if (pub[0] === 3) d = ecc.privateNegate(d)
  return ecc.privateAdd(d, tapTweak(pub.subarray(1)))!
}

/** Signs every input the way the engine does: ECDSA over sha256d(BIP143 preimage), Schnorr over the TapSighash. */
function sign(txHex: string, inputs: TxInput[]): Uint8Array[][] {
  const prevouts = inputs.map((i) => ({ scriptPubKey: i.scriptPubKey, value: i.value }))
  return inputs.map((inp, n) => {
    if (inp.keyType === 'segwit') {
      const d = childPrivateKey('segwit', inp.path)
      const pub = ecc.pointFromScalar(d, true)!
      const sig = ecc.sign(sha256d(segwitSighashPreimage(txHex, n, pub, inp.value)), d)
      return [bscript.signature.encode(sig, Transaction.SIGHASH_ALL), pub]
    }
    return [ecc.signSchnorr(taprootSighash(taprootSigMsg(txHex, n, prevouts)), tweakedPrivateKey(inp.path))]
  })
}

const DEST = segwitAddress(deriveEcdsaChild(keys.segwit.publicKey, keys.segwit.chainCode, [7, 7]), 'regtest').scriptPubKey

describe('BIP341 wallet-test-vectors.json, keyPathSpending, hashType 0 (SIGHASH_DEFAULT)', () => {
  const v = BIP341.keyPathSpending
  const prevouts = v.utxosSpent.map((u) => ({ scriptPubKey: unhex(u.scriptPubKey), value: u.amountSats }))
  const index = v.input.given.txinIndex
  it('is the hashType 0 input', () => assert.equal(v.input.given.hashType, 0))
  it('sigMsg: the vector includes the epoch byte 0x00; 0x00 || taprootSigMsg(...) matches byte for byte', () => {
    const msg = taprootSigMsg(v.rawUnsignedTx, index, prevouts)
    assert.equal(msg.length, 174)
    assert.equal(v.input.intermediary.sigMsg.slice(0, 2), '00')
    assert.equal('00' + hex(msg), v.input.intermediary.sigMsg)
  })
  it('sigHash matches the vector and bitcoinjs hashForWitnessV1', () => {
    const sigHash = taprootSighash(taprootSigMsg(v.rawUnsignedTx, index, prevouts))
    assert.equal(hex(sigHash), v.input.intermediary.sigHash)
    const tx = Transaction.fromHex(v.rawUnsignedTx)
    const bjs = tx.hashForWitnessV1(
      index,
      prevouts.map((p) => p.scriptPubKey),
      prevouts.map((p) => BigInt(p.value)),
      Transaction.SIGHASH_DEFAULT,
    )
    assert.equal(hex(bjs), v.input.intermediary.sigHash)
  })
  it("the vector's expected witness verifies against the spent output key", () => {
    const sigHash = unhex(v.input.intermediary.sigHash)
    const outputKey = unhex(v.utxosSpent[index].scriptPubKey).subarray(2)
    assert.equal(ecc.verifySchnorr(sigHash, outputKey, unhex(v.input.expected.witness[0])), true)
  })
})

describe('transactions', () => {
  const inputs = [
    ownedInput('segwit', [0, 0], 150_000, 1),
    ownedInput('taproot', [0, 1], 70_000, 2),
    ownedInput('segwit', [1, 2], 40_000, 3),
    ownedInput('taproot', [0, 3], 25_000, 4),
  ]
  const change = ownedInput('taproot', [1, 0], 1, 0).scriptPubKey
  const outputs = [
    { scriptPubKey: DEST, value: 200_000 },
    { scriptPubKey: change, value: 84_000 },
  ]
  const unsigned = buildUnsignedTransaction({ inputs, outputs, locktime: 812_345 })

  it('builds version 2, RBF sequences, the given locktime, inputs and outputs in order', () => {
    const d = decodeTransaction(unsigned)
    const tx = Transaction.fromHex(unsigned)
    assert.equal(tx.version, 2)
    assert.equal(d.locktime, 812_345)
    assert.deepEqual(
      d.inputs,
      inputs.map((i) => ({ txid: i.txid, vout: i.vout, sequence: 0xfffffffd })),
    )
    assert.deepEqual(d.outputs, outputs)
    assert.equal(d.txid, tx.getId())
    assert.equal(transactionId(unsigned), tx.getId())
    const noRbf = decodeTransaction(buildUnsignedTransaction({ inputs, outputs, locktime: 0, rbf: false }))
    assert.ok(noRbf.inputs.every((i) => i.sequence === 0xfffffffe))
    const own = decodeTransaction(buildUnsignedTransaction({ inputs: [{ ...inputs[0], sequence: 5 }], outputs, locktime: 0 }))
    assert.equal(own.inputs[0].sequence, 5)
  })

  it('BIP143 preimages and BIP341 sigMsgs hash to what bitcoinjs computes, on a mixed 4-input tx', () => {
    const tx = Transaction.fromHex(unsigned)
    const scripts = inputs.map((i) => i.scriptPubKey)
    const values = inputs.map((i) => BigInt(i.value))
    inputs.forEach((inp, n) => {
      if (inp.keyType === 'segwit') {
        const pub = deriveEcdsaChild(keys.segwit.publicKey, keys.segwit.chainCode, inp.path)
        const preimage = segwitSighashPreimage(unsigned, n, pub, inp.value)
        assert.equal(preimage.length, 4 + 32 + 32 + 36 + 26 + 8 + 4 + 32 + 4 + 4)
        const scriptCode = Uint8Array.from([0x76, 0xa9, 0x14, ...hash160(pub), 0x88, 0xac])
        assert.equal(hex(sha256d(preimage)), hex(tx.hashForWitnessV0(n, scriptCode, BigInt(inp.value), Transaction.SIGHASH_ALL)))
      } else {
        const msg = taprootSigMsg(
          unsigned,
          n,
          inputs.map((i) => ({ scriptPubKey: i.scriptPubKey, value: i.value })),
        )
        assert.equal(hex(taprootSighash(msg)), hex(tx.hashForWitnessV1(n, scripts, values, Transaction.SIGHASH_DEFAULT)))
      }
    })
  })

  it('attachWitnesses: the signatures in the signed transaction verify, txid unchanged', () => {
    const signed = attachWitnesses(unsigned, sign(unsigned, inputs))
    assert.equal(signed.txid, transactionId(unsigned))
    const tx = Transaction.fromHex(signed.hex)
    assert.equal(tx.virtualSize(), signed.vsize)
    const scripts = inputs.map((i) => i.scriptPubKey)
    const values = inputs.map((i) => BigInt(i.value))
    inputs.forEach((inp, n) => {
      const w = tx.ins[n].witness
      if (inp.keyType === 'segwit') {
        assert.equal(w.length, 2)
        const { signature, hashType } = bscript.signature.decode(w[0])
        assert.equal(hashType, Transaction.SIGHASH_ALL)
        assert.equal(hex(hash160(w[1])), hex(inp.scriptPubKey.subarray(2)))
        const scriptCode = Uint8Array.from([0x76, 0xa9, 0x14, ...hash160(w[1]), 0x88, 0xac])
        assert.equal(ecc.verify(tx.hashForWitnessV0(n, scriptCode, values[n], Transaction.SIGHASH_ALL), w[1], signature), true)
      } else {
        assert.equal(w.length, 1)
        assert.equal(w[0].length, 64)
        const hash = tx.hashForWitnessV1(n, scripts, values, Transaction.SIGHASH_DEFAULT)
        assert.equal(ecc.verifySchnorr(hash, inp.scriptPubKey.subarray(2), w[0]), true)
      }
    })
  })

  it('inputSignatureValid: the real signatures verify; a flipped bit, another input or another key does not', () => {
    const witnesses = sign(unsigned, inputs)
    const prevouts = inputs.map((i) => ({ scriptPubKey: i.scriptPubKey, value: i.value }))
    const keyOf = (n: number) => (inputs[n].keyType === 'segwit' ? witnesses[n][1] : inputs[n].scriptPubKey.subarray(2))
    const sigOf = (n: number) => hex(inputs[n].keyType === 'segwit' ? witnesses[n][0].subarray(0, -1) : witnesses[n][0])
    const check = (n: number, signatureHex: string, publicKey = keyOf(n), index = n) =>
      inputSignatureValid({ txHex: unsigned, index, keyType: inputs[n].keyType, publicKey, prevouts, signatureHex })
    inputs.forEach((_, n) => {
      assert.equal(check(n, sigOf(n)), true, `input ${n}`)
      const flipped = Buffer.from(sigOf(n), 'hex')
      flipped[flipped.length - 3] ^= 1
      assert.equal(check(n, flipped.toString('hex')), false, `input ${n} with a flipped bit`)
      assert.equal(check(n, 'zz'), false)
    })
    const [a, b] = [0, 1, 2, 3].filter((n) => inputs[n].keyType === inputs[0].keyType)
    assert.equal(check(a, sigOf(a), keyOf(a), b), false, 'the signature of another input')
    assert.equal(check(a, sigOf(a), keyOf(b)), false, 'another key')
  })

  it('estimateVsize is within 1 vB (never below) of really signed transactions', () => {
    for (const set of [[inputs[0], inputs[1]], [inputs[0]], [inputs[1]], inputs]) {
      for (const outs of [outputs, [outputs[0]]]) {
        const u = buildUnsignedTransaction({ inputs: set, outputs: outs.map((o) => ({ ...o, value: 1000 })), locktime: 0 })
        const { vsize } = attachWitnesses(u, sign(u, set))
        const est = estimateVsize(
          set.map((i) => i.keyType),
          outs.map((o) => o.scriptPubKey),
        )
        assert.ok(est >= vsize && est - vsize <= 1, `estimate ${est}, signed ${vsize}`)
      }
    }
  })

  it('rejects malformed transactions and witness counts with INVALID_TRANSACTION', () => {
    assert.throws(() => transactionId('zz'), code('INVALID_TRANSACTION'))
    assert.throws(() => decodeTransaction(''), code('INVALID_TRANSACTION'))
    assert.throws(() => decodeTransaction('0200000000'), code('INVALID_TRANSACTION'))
    assert.throws(() => attachWitnesses(unsigned, [[new Uint8Array(64)]]), code('INVALID_TRANSACTION'))
    assert.throws(() => buildUnsignedTransaction({ inputs: [], outputs, locktime: 0 }), code('INVALID_TRANSACTION'))
    assert.throws(() => buildUnsignedTransaction({ inputs: [inputs[0], inputs[0]], outputs, locktime: 0 }), code('INVALID_TRANSACTION'))
    assert.throws(() => taprootSigMsg(unsigned, 0, []), code('INVALID_TRANSACTION'))
    assert.throws(() => taprootSigMsg(unsigned, 9, inputs), code('INVALID_TRANSACTION'))
  })

  it('toPsbt: decodes with bitcoinjs, carries witnessUtxo and derivations, and bitcoinjs can sign it into the same txid', () => {
    const b64 = toPsbt({ txHex: unsigned, inputs, network: 'regtest', keys, changes: [{ index: 1, keyType: 'taproot', path: [1, 0] }] })
    const psbt = Psbt.fromBase64(b64, { network: networks.regtest })
    assert.equal(psbt.inputCount, 4)
    assert.equal(psbt.locktime, 812_345)
    inputs.forEach((inp, n) => {
      const d = psbt.data.inputs[n]
      assert.equal(d.witnessUtxo?.value, BigInt(inp.value))
      assert.equal(hex(d.witnessUtxo!.script), hex(inp.scriptPubKey))
      const path = `m/${inp.path.join('/')}`
      const fp = hex(roots[inp.keyType].fingerprint)
      if (inp.keyType === 'segwit') {
        assert.equal(d.bip32Derivation?.[0].path, path)
        assert.equal(hex(d.bip32Derivation![0].masterFingerprint), fp)
        assert.equal(hex(d.bip32Derivation![0].pubkey), hex(deriveEcdsaChild(keys.segwit.publicKey, keys.segwit.chainCode, inp.path)))
      } else {
        const internal = deriveEcdsaChild(keys.taproot.publicKey, keys.taproot.chainCode, inp.path).subarray(1)
        assert.equal(hex(d.tapInternalKey!), hex(internal))
        assert.equal(d.tapBip32Derivation?.[0].path, path)
        assert.equal(hex(d.tapBip32Derivation![0].masterFingerprint), fp)
        assert.equal(hex(d.tapBip32Derivation![0].pubkey), hex(internal))
      }
    })
    assert.equal(psbt.data.outputs[0].tapInternalKey, undefined)
    assert.equal(psbt.data.outputs[1].tapBip32Derivation?.[0].path, 'm/1/0')
    assert.deepEqual(
      psbt.txOutputs.map((o) => Number(o.value)),
      outputs.map((o) => o.value),
    )

    // Independent signer: bitcoinjs finds the segwit keys from bip32Derivation, and signs the
    // taproot inputs with the BIP86-tweaked keys; the extracted transaction keeps our txid.
    inputs.forEach((inp, n) => {
      if (inp.keyType === 'segwit') {
        psbt.signInputHD(n, segwitRoot)
      } else {
        const d = tweakedPrivateKey(inp.path)
        psbt.signInput(n, { publicKey: ecc.pointFromScalar(d, true)!, sign: (h) => ecc.sign(h, d), signSchnorr: (h) => ecc.signSchnorr(h, d) })
      }
    })
    const validator = (pubkey: Uint8Array, msghash: Uint8Array, signature: Uint8Array) =>
      pubkey.length === 32 ? ecc.verifySchnorr(msghash, pubkey, signature) : ecc.verify(msghash, pubkey, signature)
    assert.equal(psbt.validateSignaturesOfAllInputs(validator), true)
    psbt.finalizeAllInputs()
    assert.equal(psbt.extractTransaction().getId(), transactionId(unsigned))
  })

  it('toPsbt rejects inputs that do not match the transaction or the keys', () => {
    assert.throws(() => toPsbt({ txHex: unsigned, inputs: [...inputs].reverse(), network: 'regtest', keys }), code('INVALID_TRANSACTION'))
    assert.throws(() => toPsbt({ txHex: unsigned, inputs, network: 'regtest', keys: { segwit: keys.segwit } }), code('INVALID_TRANSACTION'))
    const wrongPath = inputs.map((i, n) => (n === 0 ? { ...i, path: [0, 9] } : i))
    assert.throws(() => toPsbt({ txHex: unsigned, inputs: wrongPath, network: 'regtest', keys }), code('INVALID_TRANSACTION'))
    assert.throws(() => toPsbt({ txHex: unsigned, inputs, network: 'regtest', keys, changes: [{ index: 0, keyType: 'taproot', path: [1, 0] }] }), code('INVALID_TRANSACTION'))
  })
})
