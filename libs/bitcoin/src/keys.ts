import { address as bjsAddress, payments } from 'bitcoinjs-lib'
import { BitcoinError } from './errors'
import { hash160, taggedHash } from './hash'
import { bip32, bjsNetwork, ecc, NETWORKS, type KeyType, type Network } from './network'

const HARDENED = 0x80000000

function checkPath(path: number[]): void {
  if (!Array.isArray(path)) throw new BitcoinError('INVALID_PATH', 'path must be an array of child indexes')
  for (const i of path) {
    if (!Number.isInteger(i) || i < 0 || i >= HARDENED) {
      throw new BitcoinError('INVALID_PATH', `path element ${String(i)} is not a non-hardened index (0 ≤ i < 2^31)`, {
        path,
      })
    }
  }
}

function checkPublicKey(publicKey: Uint8Array, what = 'publicKey'): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 33 || (publicKey[0] !== 2 && publicKey[0] !== 3)) {
    throw new TypeError(`${what} must be a 33-byte compressed secp256k1 point`)
  }
  if (!ecc.isPoint(publicKey)) throw new TypeError(`${what} is not on the curve`)
}

function checkChainCode(chainCode: Uint8Array): void {
  if (!(chainCode instanceof Uint8Array) || chainCode.length !== 32) throw new TypeError('chainCode must be 32 bytes')
}

/** "m/0/5" for [0, 5]. */
export function pathString(path: number[]): string {
  checkPath(path)
  return ['m', ...path.map(String)].join('/')
}

/** BIP32 CKDpub along `path` (non-hardened only); returns the 33-byte compressed child public key. */
export function deriveEcdsaChild(publicKey: Uint8Array, chainCode: Uint8Array, path: number[]): Uint8Array {
  checkPath(path)
  checkPublicKey(publicKey)
  checkChainCode(chainCode)
  let node = bip32.fromPublicKey(publicKey, chainCode)
  for (const i of path) node = node.derive(i)
  return new Uint8Array(node.publicKey)
}

/** BIP86 / BIP341 key-path tweak with no script tree: Q = P + int(TaggedHash("TapTweak", x(P)))·G. */
export function taprootTweak(internalXOnly: Uint8Array): Uint8Array {
  if (!(internalXOnly instanceof Uint8Array) || internalXOnly.length !== 32) throw new TypeError('x-only key must be 32 bytes')
  const tweaked = ecc.xOnlyPointAddTweak(internalXOnly, taggedHash('TapTweak', internalXOnly))
  if (!tweaked) throw new TypeError('taproot tweak produced an invalid point')
  return new Uint8Array(tweaked.xOnlyPubkey)
}

/**
 * CKDpub child of the Taproot base key along `path`, then the BIP86 tweak of the child's x-only key.
 * Returns the 32-byte x-only output key that goes into the P2TR scriptPubKey.
 */
export function deriveTaprootOutputKey(basePublicKey: Uint8Array, chainCode: Uint8Array, path: number[]): Uint8Array {
  const child = deriveEcdsaChild(basePublicKey, chainCode, path)
  return taprootTweak(child.subarray(1, 33))
}

/** The untweaked x-only internal key at `path` (what PSBT's tapInternalKey carries). */
export function deriveTaprootInternalKey(basePublicKey: Uint8Array, chainCode: Uint8Array, path: number[]): Uint8Array {
  return deriveEcdsaChild(basePublicKey, chainCode, path).subarray(1, 33)
}

export function segwitAddress(publicKey33: Uint8Array, network: Network): { address: string; scriptPubKey: Uint8Array } {
  checkPublicKey(publicKey33)
  const p = payments.p2wpkh({ pubkey: publicKey33, network: bjsNetwork(network) })
  return { address: p.address!, scriptPubKey: new Uint8Array(p.output!) }
}

export function taprootAddress(outputKeyXOnly32: Uint8Array, network: Network): { address: string; scriptPubKey: Uint8Array } {
  if (!(outputKeyXOnly32 instanceof Uint8Array) || outputKeyXOnly32.length !== 32 || !ecc.isXOnlyPoint(outputKeyXOnly32)) {
    throw new TypeError('outputKeyXOnly32 must be a 32-byte x-only secp256k1 point')
  }
  const p = payments.p2tr({ pubkey: outputKeyXOnly32, network: bjsNetwork(network) })
  return { address: p.address!, scriptPubKey: new Uint8Array(p.output!) }
}

export type AddressType = 'p2wpkh' | 'p2tr' | 'p2wsh' | 'p2pkh' | 'p2sh'

/** Classifies a standard scriptPubKey, or undefined for anything else. */
export function scriptType(s: Uint8Array): AddressType | undefined {
  if (s.length === 22 && s[0] === 0x00 && s[1] === 0x14) return 'p2wpkh'
  if (s.length === 34 && s[0] === 0x00 && s[1] === 0x20) return 'p2wsh'
  if (s.length === 34 && s[0] === 0x51 && s[1] === 0x20) return 'p2tr'
  if (s.length === 25 && s[0] === 0x76 && s[1] === 0xa9 && s[2] === 0x14 && s[23] === 0x88 && s[24] === 0xac) return 'p2pkh'
  if (s.length === 23 && s[0] === 0xa9 && s[1] === 0x14 && s[22] === 0x87) return 'p2sh'
  return undefined
}

function tryOutputScript(address: string, network: Network): Uint8Array | undefined {
  try {
    return new Uint8Array(bjsAddress.toOutputScript(address, bjsNetwork(network)))
  } catch {
    return undefined
  }
}

/**
 * Decodes a destination address for `network`. INVALID_ADDRESS for anything that is not a valid
 * address of a supported type on any network (garbage, bad checksum, unknown witness version);
 * WRONG_NETWORK for an address that is valid, but for another network.
 */
export function parseAddress(address: string, network: Network): { type: AddressType; scriptPubKey: Uint8Array } {
  bjsNetwork(network)
  if (typeof address !== 'string' || address.length === 0 || address.length > 100 || address.trim() !== address) {
    throw new BitcoinError('INVALID_ADDRESS', 'not a Bitcoin address')
  }
  const script = tryOutputScript(address, network)
  if (script) {
    const type = scriptType(script)
    if (!type) throw new BitcoinError('INVALID_ADDRESS', `unsupported address type: ${address}`, { address })
    return { type, scriptPubKey: script }
  }
  const other = NETWORKS.find((n) => n !== network && tryOutputScript(address, n) !== undefined)
  if (other) {
    throw new BitcoinError('WRONG_NETWORK', `${address} is an address for ${other}, not ${network}`, {
      address,
      network,
      addressNetwork: other,
    })
  }
  throw new BitcoinError('INVALID_ADDRESS', `not a valid Bitcoin address: ${address}`, { address })
}

/** Extended public key at depth 0 (parent fingerprint 0, child number 0): xpub on mainnet, tpub otherwise. */
export function encodeExtendedPublicKey(publicKey33: Uint8Array, chainCode: Uint8Array, network: Network): string {
  checkPublicKey(publicKey33)
  checkChainCode(chainCode)
  return bip32.fromPublicKey(publicKey33, chainCode, bjsNetwork(network)).toBase58()
}

/** BIP32 key fingerprint: the first 4 bytes of hash160 of the compressed public key. */
export function fingerprint(publicKey33: Uint8Array): Uint8Array {
  checkPublicKey(publicKey33)
  return hash160(publicKey33).subarray(0, 4)
}

// BIP380 checksum.
const INPUT_CHARSET = '0123456789()[],\'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#"\\ '
const CHECKSUM_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'
const GENERATOR = [0xf5dee51989n, 0xa9fdca3312n, 0x1bab10e32dn, 0x3706b1677an, 0x644d626ffdn]

function polymod(symbols: number[]): bigint {
  let chk = 1n
  for (const value of symbols) {
    const top = chk >> 35n
    chk = ((chk & 0x7ffffffffn) << 5n) ^ BigInt(value)
    for (let i = 0; i < 5; i++) if ((top >> BigInt(i)) & 1n) chk ^= GENERATOR[i]
  }
  return chk
}

/** BIP380 descriptor checksum (8 characters) of a descriptor without its `#checksum`. */
export function descriptorChecksum(descriptor: string): string {
  const symbols: number[] = []
  let groups: number[] = []
  for (const c of descriptor) {
    const v = INPUT_CHARSET.indexOf(c)
    if (v < 0) throw new TypeError(`character ${JSON.stringify(c)} is not allowed in a descriptor`)
    symbols.push(v & 31)
    groups.push(v >> 5)
    if (groups.length === 3) {
      symbols.push(groups[0] * 9 + groups[1] * 3 + groups[2])
      groups = []
    }
  }
  if (groups.length === 1) symbols.push(groups[0])
  else if (groups.length === 2) symbols.push(groups[0] * 3 + groups[1])
  const c = polymod([...symbols, 0, 0, 0, 0, 0, 0, 0, 0]) ^ 1n
  let out = ''
  for (let i = 0; i < 8; i++) out += CHECKSUM_CHARSET[Number((c >> BigInt(5 * (7 - i))) & 31n)]
  return out
}

/** Watch-only descriptors for the receive (/0/*) and change (/1/*) chains, each with its checksum. */
export function walletDescriptors(key: { publicKey: Uint8Array; chainCode: Uint8Array }, type: KeyType, network: Network): { receive: string; change: string } {
  const xpub = encodeExtendedPublicKey(key.publicKey, key.chainCode, network)
  const fn = type === 'segwit' ? 'wpkh' : type === 'taproot' ? 'tr' : undefined
  if (!fn) throw new TypeError(`unknown key type ${String(type)}`)
  const make = (chain: number) => {
    const d = `${fn}(${xpub}/${chain}/*)`
    return `${d}#${descriptorChecksum(d)}`
  }
  return { receive: make(0), change: make(1) }
}
