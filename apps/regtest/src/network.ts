// One place that sets up bitcoinjs (secp256k1 backend for Taproot) and the consensus checker.
import * as ecc from '@bitcoinerlab/secp256k1'
import * as bitcoin from 'bitcoinjs-lib'
import { ECPairFactory } from 'ecpair'

bitcoin.initEccLib(ecc)

export const NETWORK = bitcoin.networks.regtest
export const ECPair = ECPairFactory(ecc)

export const COIN = 100_000_000n
export const MAX_MONEY = 21_000_000n * COIN
/** A coinbase output can be spent in block h + 100 (Core's COINBASE_MATURITY). */
export const COINBASE_MATURITY = 100
/** Regtest halves the subsidy every 150 blocks. */
export const HALVING_INTERVAL = 150
/** Regtest proof-of-work limit, as compact bits. */
export const REGTEST_BITS = 0x207fffff
/**
 * Core's default minimum relay fee and incremental relay fee since 29.1 (-minrelaytxfee,
 * -incrementalrelayfee): 100 sat/kvB, 0.1 sat/vB. Before 29.1 both were 1 sat/vB.
 */
export const MIN_RELAY_FEE_SAT_PER_KVB = 100
export const INCREMENTAL_RELAY_FEE_SAT_PER_KVB = 100

/** The fee at `satPerKvB` for `vsize` virtual bytes, rounded up as Core's CFeeRate::GetFee does. */
export function feeAt(satPerKvB: number, vsize: number): bigint {
  return (BigInt(satPerKvB) * BigInt(vsize) + 999n) / 1000n
}
/** Core's MAX_BLOCK_WEIGHT: no tx may be heavier than a block. */
export const MAX_BLOCK_WEIGHT = 4_000_000

/** The addon's Bitcoin Core consensus check (native/addon `verifyScript`). */
export interface ConsensusChecker {
  verifyScript(tx: Buffer, inputIndex: number, spentOutputs: { scriptPubkey: Buffer; value: number }[]): void
}

let checker: ConsensusChecker | undefined
/** Loads @tw/native lazily so a missing build fails with a clear message at start-up. */
export function consensus(): ConsensusChecker {
  if (!checker) {
    const native = require('@tw/native') as Partial<ConsensusChecker>
    if (typeof native.verifyScript !== 'function') {
      throw new Error('@tw/native has no verifyScript: rebuild the addon (npm run build:native)')
    }
    checker = native as ConsensusChecker
  }
  return checker
}

export function sha256d(b: Uint8Array): Buffer {
  return Buffer.from(bitcoin.crypto.hash256(b))
}

/** Display (byte-reversed) hex of an internal-order hash. */
export function displayHash(h: Uint8Array): string {
  return Buffer.from(h).reverse().toString('hex')
}

/** Internal-order bytes of a display-hex hash. */
export function internalHash(display: string): Buffer {
  return Buffer.from(display, 'hex').reverse()
}

export const HASH_RE = /^[0-9a-f]{64}$/
