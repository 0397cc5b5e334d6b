import { Psbt, script as bscript, Transaction } from 'bitcoinjs-lib'
import type { Utxo } from './coinselect'
import { BitcoinError } from './errors'
import { MAX_MONEY } from './fees'
import { concatBytes, fromHex, hash160, sha256, sha256d, taggedHash, toHex } from './hash'
import { deriveEcdsaChild, deriveTaprootOutputKey, fingerprint, pathString } from './keys'
import { bjsNetwork, ecc, type KeyType, type Network } from './network'

export interface TxInput extends Utxo {
  sequence?: number
}

/** BIP125 opt-in RBF (and nLockTime enforced). */
export const SEQUENCE_RBF = 0xfffffffd
/** Final for RBF purposes, nLockTime still enforced. */
export const SEQUENCE_NO_RBF = 0xfffffffe

function parseTx(txHex: string): Transaction {
  if (typeof txHex !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(txHex)) {
    throw new BitcoinError('INVALID_TRANSACTION', 'transaction must be non-empty hex')
  }
  let tx: Transaction
  try {
    tx = Transaction.fromHex(txHex)
  } catch (e) {
    throw new BitcoinError('INVALID_TRANSACTION', `cannot decode transaction: ${(e as Error).message}`)
  }
  if (tx.ins.length === 0 || tx.outs.length === 0) {
    throw new BitcoinError('INVALID_TRANSACTION', 'transaction has no inputs or no outputs')
  }
  return tx
}

function checkValue(v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > MAX_MONEY) {
    throw new BitcoinError('INVALID_AMOUNT', `${what}: ${String(v)} is not a valid amount in satoshis`, { value: v })
  }
}

function txidBytes(txid: string): Uint8Array {
  if (typeof txid !== 'string' || !/^[0-9a-fA-F]{64}$/.test(txid)) {
    throw new BitcoinError('INVALID_TRANSACTION', `invalid txid ${String(txid)}`)
  }
  return fromHex(txid).reverse() // internal byte order
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n >>> 0, true)
  return b
}

function u64(n: number | bigint): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true)
  return b
}

function varInt(n: number): Uint8Array {
  if (n < 0xfd) return Uint8Array.of(n)
  if (n <= 0xffff) return Uint8Array.of(0xfd, n & 0xff, n >> 8)
  return concatBytes(Uint8Array.of(0xfe), u32(n))
}

function varSlice(b: Uint8Array): Uint8Array {
  return concatBytes(varInt(b.length), b)
}

function outpoint(inp: Transaction['ins'][number]): Uint8Array {
  return concatBytes(inp.hash, u32(inp.index))
}

function serializedOutputs(tx: Transaction): Uint8Array {
  return concatBytes(...tx.outs.map((o) => concatBytes(u64(o.value), varSlice(o.script))))
}

/** Version 2, inputs in the given order, RBF on by default (sequence 0xfffffffd; rbf: false → 0xfffffffe). */
export function buildUnsignedTransaction(p: { inputs: TxInput[]; outputs: { scriptPubKey: Uint8Array; value: number }[]; locktime: number; rbf?: boolean }): string {
  if (p.inputs.length === 0 || p.outputs.length === 0) {
    throw new BitcoinError('INVALID_TRANSACTION', 'a transaction needs at least one input and one output')
  }
  if (!Number.isInteger(p.locktime) || p.locktime < 0 || p.locktime > 0xffffffff) {
    throw new BitcoinError('INVALID_TRANSACTION', `invalid locktime ${String(p.locktime)}`)
  }
  const tx = new Transaction()
  tx.version = 2
  tx.locktime = p.locktime
  const defaultSequence = p.rbf === false ? SEQUENCE_NO_RBF : SEQUENCE_RBF
  const seen = new Set<string>()
  for (const i of p.inputs) {
    if (!Number.isInteger(i.vout) || i.vout < 0 || i.vout > 0xffffffff) throw new BitcoinError('INVALID_TRANSACTION', `invalid vout ${String(i.vout)}`)
    const key = `${i.txid.toLowerCase()}:${i.vout}`
    if (seen.has(key)) throw new BitcoinError('INVALID_TRANSACTION', `input ${key} is spent twice`)
    seen.add(key)
    const seq = i.sequence ?? defaultSequence
    if (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff) throw new BitcoinError('INVALID_TRANSACTION', `invalid sequence ${String(seq)}`)
    tx.addInput(txidBytes(i.txid), i.vout, seq)
  }
  p.outputs.forEach((o, n) => {
    checkValue(o.value, `output ${n}`)
    tx.addOutput(o.scriptPubKey, BigInt(o.value))
  })
  return tx.toHex()
}

/**
 * The full BIP143 signature message for input `index` spending a P2WPKH output of `value` sats locked
 * to `publicKey33`, SIGHASH_ALL. The ECDSA signers sign sha256d(preimage).
 */
export function segwitSighashPreimage(txHex: string, index: number, publicKey33: Uint8Array, value: number): Uint8Array {
  const tx = parseTx(txHex)
  const inp = tx.ins[index]
  if (!inp) throw new BitcoinError('INVALID_TRANSACTION', `no input ${index}`)
  checkValue(value, `input ${index} value`)
  if (!(publicKey33 instanceof Uint8Array) || publicKey33.length !== 33) throw new TypeError('publicKey33 must be 33 bytes')
  const scriptCode = concatBytes(Uint8Array.of(0x76, 0xa9, 0x14), hash160(publicKey33), Uint8Array.of(0x88, 0xac))
  return concatBytes(
    u32(tx.version),
    sha256d(concatBytes(...tx.ins.map(outpoint))), // hashPrevouts
    sha256d(concatBytes(...tx.ins.map((i) => u32(i.sequence)))), // hashSequence
    outpoint(inp),
    varSlice(scriptCode),
    u64(value),
    u32(inp.sequence),
    sha256d(serializedOutputs(tx)), // hashOutputs
    u32(tx.locktime),
    u32(Transaction.SIGHASH_ALL),
  )
}

/**
 * BIP341 SigMsg(hash_type = 0x00 SIGHASH_DEFAULT, ext_flag = 0) for a key-path spend of input
 * `index`, without annex and WITHOUT the leading epoch byte 0x00 (174 bytes). `prevouts` are the
 * outputs spent by every input, in input order. The FROST signers sign taprootSighash(sigMsg).
 */
export function taprootSigMsg(txHex: string, index: number, prevouts: { scriptPubKey: Uint8Array; value: number }[]): Uint8Array {
  const tx = parseTx(txHex)
  if (!Number.isInteger(index) || !tx.ins[index]) throw new BitcoinError('INVALID_TRANSACTION', `no input ${index}`)
  if (prevouts.length !== tx.ins.length) {
    throw new BitcoinError('INVALID_TRANSACTION', `${prevouts.length} prevouts for ${tx.ins.length} inputs`)
  }
  prevouts.forEach((p, n) => checkValue(p.value, `prevout ${n}`))
  return concatBytes(
    Uint8Array.of(0x00), // hash_type SIGHASH_DEFAULT
    u32(tx.version),
    u32(tx.locktime),
    sha256(concatBytes(...tx.ins.map(outpoint))), // sha_prevouts
    sha256(concatBytes(...prevouts.map((p) => u64(p.value)))), // sha_amounts
    sha256(concatBytes(...prevouts.map((p) => varSlice(p.scriptPubKey)))), // sha_scriptpubkeys
    sha256(concatBytes(...tx.ins.map((i) => u32(i.sequence)))), // sha_sequences
    sha256(serializedOutputs(tx)), // sha_outputs
    Uint8Array.of(0x00), // spend_type: ext_flag 0, no annex
    u32(index),
  )
}

/** TaggedHash("TapSighash", 0x00 || sigMsg): the 32-byte message of the BIP340 signature. */
export function taprootSighash(sigMsg: Uint8Array): Uint8Array {
  return taggedHash('TapSighash', concatBytes(Uint8Array.of(0x00), sigMsg))
}

/**
 * Whether `signatureHex` signs input `index` of `txHex` for the wallet's key at that input:
 * P2WPKH — a DER ECDSA signature (no sighash byte) of the BIP143 SIGHASH_ALL message by the
 * 33-byte `publicKey`; P2TR key path — a 64-byte BIP340 signature of the BIP341
 * SIGHASH_DEFAULT message by the x-only output key `publicKey`. `prevouts` are the outputs
 * spent by every input, in input order. Malformed input is simply not valid.
 */
export function inputSignatureValid(p: {
  txHex: string
  index: number
  keyType: KeyType
  publicKey: Uint8Array
  prevouts: { scriptPubKey: Uint8Array; value: number }[]
  signatureHex: string
}): boolean {
  try {
    const sig = fromHex(p.signatureHex)
    if (p.keyType === 'taproot') {
      if (sig.length !== 64 || p.publicKey.length !== 32) return false
      return ecc.verifySchnorr(taprootSighash(taprootSigMsg(p.txHex, p.index, p.prevouts)), p.publicKey, sig)
    }
    const prevout = p.prevouts[p.index]
    if (!prevout || p.publicKey.length !== 33) return false
    const hash = sha256d(segwitSighashPreimage(p.txHex, p.index, p.publicKey, prevout.value))
    const decoded = bscript.signature.decode(Buffer.concat([sig, Uint8Array.of(Transaction.SIGHASH_ALL)]))
    return ecc.verify(hash, p.publicKey, decoded.signature, true)
  } catch {
    return false
  }
}

/** Sets one witness stack per input (P2WPKH: [der || 0x01, pubkey33]; P2TR key path: [sig64]). */
export function attachWitnesses(txHex: string, witnesses: Uint8Array[][]): { hex: string; txid: string; vsize: number } {
  const tx = parseTx(txHex)
  if (!Array.isArray(witnesses) || witnesses.length !== tx.ins.length) {
    throw new BitcoinError('INVALID_TRANSACTION', `${witnesses?.length} witness stacks for ${tx.ins.length} inputs`)
  }
  witnesses.forEach((stack, i) => {
    if (!Array.isArray(stack) || stack.length === 0 || !stack.every((e) => e instanceof Uint8Array)) {
      throw new BitcoinError('INVALID_TRANSACTION', `witness stack ${i} must be a non-empty array of byte strings`)
    }
    tx.setWitness(
      i,
      stack.map((e) => new Uint8Array(e)),
    )
  })
  return { hex: tx.toHex(), txid: tx.getId(), vsize: tx.virtualSize() }
}

export function transactionId(txHex: string): string {
  return parseTx(txHex).getId()
}

export function decodeTransaction(txHex: string): {
  txid: string
  version: number
  locktime: number
  inputs: { txid: string; vout: number; sequence: number }[]
  outputs: { scriptPubKey: Uint8Array; value: number }[]
} {
  const tx = parseTx(txHex)
  return {
    txid: tx.getId(),
    version: tx.version,
    locktime: tx.locktime,
    inputs: tx.ins.map((i) => ({ txid: toHex(new Uint8Array(i.hash).reverse()), vout: i.index, sequence: i.sequence })),
    outputs: tx.outs.map((o) => ({ scriptPubKey: new Uint8Array(o.script), value: Number(o.value) })),
  }
}

type KeyInfo = { publicKey: Uint8Array; chainCode: Uint8Array }

function derivation(keys: Partial<Record<KeyType, KeyInfo>>, keyType: KeyType, path: number[], what: string) {
  const key = keys[keyType]
  if (!key) throw new BitcoinError('INVALID_TRANSACTION', `${what} is ${keyType} but no ${keyType} key was given`)
  const child = deriveEcdsaChild(key.publicKey, key.chainCode, path)
  return { key, child, masterFingerprint: fingerprint(key.publicKey), path: pathString(path) }
}

/**
 * A BIP174 PSBT (base64) of the unsigned transaction: witnessUtxo on every input, bip32Derivation
 * (segwit) or tapInternalKey + tapBip32Derivation (taproot) from the wallet's root key (fingerprint
 * hash160(root pubkey)[0..4], path m/…). Outputs named in `changes` (index into the transaction's
 * outputs) get the same derivation data after their scriptPubKey is checked against it.
 */
export function toPsbt(p: {
  txHex: string
  inputs: TxInput[]
  network: Network
  keys: Partial<Record<KeyType, KeyInfo>>
  changes?: { index: number; keyType: KeyType; path: number[] }[]
}): string {
  const tx = parseTx(p.txHex)
  if (p.inputs.length !== tx.ins.length) {
    throw new BitcoinError('INVALID_TRANSACTION', `${p.inputs.length} inputs described for ${tx.ins.length} in the transaction`)
  }
  const psbt = new Psbt({ network: bjsNetwork(p.network) })
  psbt.setVersion(tx.version)
  psbt.setLocktime(tx.locktime)
  tx.ins.forEach((ti, n) => {
    const u = p.inputs[n]
    if (toHex(txidBytes(u.txid)) !== toHex(ti.hash) || u.vout !== ti.index) {
      throw new BitcoinError('INVALID_TRANSACTION', `input ${n} is ${toHex(new Uint8Array(ti.hash).reverse())}:${ti.index}, not ${u.txid}:${u.vout}`)
    }
    checkValue(u.value, `input ${n}`)
    const d = derivation(p.keys, u.keyType, u.path, `input ${n}`)
    const expected = expectedScript(d.key, u.keyType, u.path)
    if (toHex(expected) !== toHex(u.scriptPubKey)) {
      throw new BitcoinError('INVALID_TRANSACTION', `input ${n}: scriptPubKey does not belong to ${u.keyType} ${d.path}`)
    }
    psbt.addInput({
      hash: ti.hash,
      index: ti.index,
      sequence: ti.sequence,
      witnessUtxo: { script: u.scriptPubKey, value: BigInt(u.value) },
      ...derivationFields(u.keyType, d),
    })
  })
  const changeAt = new Map((p.changes ?? []).map((c) => [c.index, c]))
  tx.outs.forEach((o, n) => {
    const c = changeAt.get(n)
    if (!c) {
      psbt.addOutput({ script: o.script, value: o.value })
      return
    }
    const d = derivation(p.keys, c.keyType, c.path, `change output ${n}`)
    if (toHex(expectedScript(d.key, c.keyType, c.path)) !== toHex(o.script)) {
      throw new BitcoinError('INVALID_TRANSACTION', `output ${n} does not pay ${c.keyType} ${d.path}`)
    }
    psbt.addOutput({ script: o.script, value: o.value, ...derivationFields(c.keyType, d) })
  })
  return psbt.toBase64()
}

function expectedScript(key: KeyInfo, keyType: KeyType, path: number[]): Uint8Array {
  if (keyType === 'segwit') {
    return concatBytes(Uint8Array.of(0x00, 0x14), hash160(deriveEcdsaChild(key.publicKey, key.chainCode, path)))
  }
  return concatBytes(Uint8Array.of(0x51, 0x20), deriveTaprootOutputKey(key.publicKey, key.chainCode, path))
}

function derivationFields(keyType: KeyType, d: { child: Uint8Array; masterFingerprint: Uint8Array; path: string }) {
  if (keyType === 'segwit') {
    return { bip32Derivation: [{ masterFingerprint: d.masterFingerprint, pubkey: d.child, path: d.path }] }
  }
  const xonly = d.child.subarray(1, 33)
  return {
    tapInternalKey: xonly,
    tapBip32Derivation: [{ masterFingerprint: d.masterFingerprint, pubkey: xonly, path: d.path, leafHashes: [] }],
  }
}
