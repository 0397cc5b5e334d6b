import { BitcoinError } from './errors'
import type { KeyType } from './network'

/** 21 million BTC in satoshis: no amount can exceed it. */
export const MAX_MONEY = 2_100_000_000_000_000

/**
 * A positive whole number of satoshis from a JSON number or a decimal-integer string.
 * Zero, negatives, fractions, NaN/Infinity, exponents, signs, spaces and anything above 21e14 are INVALID_AMOUNT.
 */
export function parseAmountSats(value: unknown): number {
  let n: number | undefined
  if (typeof value === 'number') {
    n = value
  } else if (typeof value === 'string' && /^[0-9]{1,16}$/.test(value)) {
    n = Number(value)
  } else if (typeof value === 'bigint' && value > 0n && value <= BigInt(MAX_MONEY)) {
    n = Number(value)
  }
  if (n === undefined || !Number.isSafeInteger(n) || n <= 0 || n > MAX_MONEY) {
    throw new BitcoinError('INVALID_AMOUNT', `not a valid amount in satoshis: ${describe(value)}`, { value: describe(value) })
  }
  return n
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)
  if (typeof v === 'bigint') return `${v}n`
  return String(v)
}

/**
 * Weight units of one input of each kind. P2WPKH: 41 non-witness bytes (outpoint, empty scriptSig,
 * sequence) ×4 + witness (count 1, push 72 for a high-R DER signature + sighash byte, push 33) = 272.
 * P2TR key path: 41×4 + witness (count 1, push 64 for a SIGHASH_DEFAULT Schnorr signature) = 230.
 */
export const INPUT_WEIGHT: Record<KeyType, number> = { segwit: 272, taproot: 230 }
/** The same in virtual bytes: 68 and 57.5. */
export const INPUT_VBYTES: Record<KeyType, number> = { segwit: 68, taproot: 57.5 }

export function varIntSize(n: number): number {
  return n < 0xfd ? 1 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9
}

/** Serialized size of an output: value (8) + compact size of the script + the script. */
export function outputVbytes(scriptPubKey: Uint8Array): number {
  return 8 + varIntSize(scriptPubKey.length) + scriptPubKey.length
}

/** Weight of everything but the inputs: version, locktime, counts, segwit marker + flag, outputs. */
export function baseWeight(inputCount: number, outputScripts: Uint8Array[]): number {
  const nonWitness = 4 + 4 + varIntSize(inputCount) + varIntSize(outputScripts.length) + outputScripts.reduce((n, s) => n + outputVbytes(s), 0)
  return nonWitness * 4 + (inputCount > 0 ? 2 : 0)
}

/** Virtual size (rounded up) of a transaction spending `inputs` to `outputScripts`, all inputs segwit. */
export function estimateVsize(inputs: KeyType[], outputScripts: Uint8Array[]): number {
  const w = baseWeight(inputs.length, outputScripts) + inputs.reduce((n, k) => n + inputWeight(k), 0)
  return Math.ceil(w / 4)
}

export function inputWeight(k: KeyType): number {
  const w = INPUT_WEIGHT[k]
  if (w === undefined) throw new TypeError(`unknown key type ${String(k)}`)
  return w
}

function isWitnessProgram(s: Uint8Array): boolean {
  if (s.length < 4 || s.length > 42) return false
  if (s[0] !== 0x00 && (s[0] < 0x51 || s[0] > 0x60)) return false
  return s[1] + 2 === s.length
}

/**
 * Bitcoin Core's GetDustThreshold (policy.cpp): the cost of spending the output at the dust relay
 * fee rate (default 3 sat/vB) — output size + 67 vB for a witness program, + 148 vB otherwise.
 * 294 for P2WPKH, 330 for P2TR and P2WSH, 546 for P2PKH, 540 for P2SH; 0 for OP_RETURN outputs.
 */
export function dustThreshold(scriptPubKey: Uint8Array, dustRelayFeeRate = 3): number {
  if (scriptPubKey.length > 0 && scriptPubKey[0] === 0x6a) return 0 // OP_RETURN: unspendable, never dust
  if (scriptPubKey.length > 10_000) return 0 // IsUnspendable: larger than MAX_SCRIPT_SIZE
  const spend = isWitnessProgram(scriptPubKey) ? 32 + 4 + 1 + Math.floor(107 / 4) + 4 : 32 + 4 + 1 + 107 + 4
  return Math.ceil(((outputVbytes(scriptPubKey) + spend) * Math.round(dustRelayFeeRate * 1000)) / 1000)
}
