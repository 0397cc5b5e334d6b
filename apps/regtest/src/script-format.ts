// Script display in Esplora's style: rust-bitcoin asm ("OP_0 OP_PUSHBYTES_20 <hex>"), the
// scriptpubkey_type names and the regtest address when the script has one.
import * as bitcoin from 'bitcoinjs-lib'
import { NETWORK } from './network'

const OP_NAMES: Record<number, string> = {}
for (const [name, code] of Object.entries(bitcoin.script.OPS)) {
  if (typeof code === 'number' && OP_NAMES[code] === undefined) OP_NAMES[code] = name
}
// rust-bitcoin spellings where they differ from bitcoinjs's first name for the code.
Object.assign(OP_NAMES, {
  0x00: 'OP_0',
  0x4f: 'OP_PUSHNUM_NEG1',
  0x50: 'OP_RESERVED',
  0xb1: 'OP_CLTV',
  0xb2: 'OP_CSV',
  0xba: 'OP_CHECKSIGADD',
})
for (let n = 1; n <= 16; n++) OP_NAMES[0x50 + n] = `OP_PUSHNUM_${n}`

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/** rust-bitcoin style asm, as Esplora prints it. */
export function scriptAsm(script: Uint8Array): string {
  const out: string[] = []
  let i = 0
  while (i < script.length) {
    const op = script[i++]
    if (op >= 0x01 && op <= 0x4e) {
      let len = op
      let name = `OP_PUSHBYTES_${op}`
      const lenBytes = op === 0x4c ? 1 : op === 0x4d ? 2 : op === 0x4e ? 4 : 0
      if (lenBytes) {
        if (i + lenBytes > script.length) {
          out.push('<unexpected end>')
          break
        }
        len = 0
        for (let k = lenBytes - 1; k >= 0; k--) len = len * 256 + script[i + k]
        i += lenBytes
        name = op === 0x4c ? 'OP_PUSHDATA1' : op === 0x4d ? 'OP_PUSHDATA2' : 'OP_PUSHDATA4'
      }
      if (i + len > script.length) {
        out.push('<unexpected end>')
        break
      }
      out.push(len ? `${name} ${hex(script.subarray(i, i + len))}` : name)
      i += len
    } else {
      out.push(OP_NAMES[op] ?? `OP_RETURN_${op}`)
    }
  }
  return out.join(' ')
}

export type ScriptType = 'p2pk' | 'p2pkh' | 'p2sh' | 'v0_p2wpkh' | 'v0_p2wsh' | 'v1_p2tr' | 'op_return' | 'empty' | 'unknown'

export function scriptType(s: Uint8Array): ScriptType {
  const n = s.length
  if (n === 0) return 'empty'
  if (s[0] === 0x6a) return 'op_return'
  if (n === 22 && s[0] === 0x00 && s[1] === 0x14) return 'v0_p2wpkh'
  if (n === 34 && s[0] === 0x00 && s[1] === 0x20) return 'v0_p2wsh'
  if (n === 34 && s[0] === 0x51 && s[1] === 0x20) return 'v1_p2tr'
  if (n === 25 && s[0] === 0x76 && s[1] === 0xa9 && s[2] === 0x14 && s[23] === 0x88 && s[24] === 0xac) return 'p2pkh'
  if (n === 23 && s[0] === 0xa9 && s[1] === 0x14 && s[22] === 0x87) return 'p2sh'
  if ((n === 35 && s[0] === 33 && s[34] === 0xac) || (n === 67 && s[0] === 65 && s[66] === 0xac)) return 'p2pk'
  return 'unknown'
}

/** The regtest address of a scriptPubKey, or undefined when it has none. */
export function scriptAddress(s: Uint8Array): string | undefined {
  const t = scriptType(s)
  if (t === 'p2pk' || t === 'op_return' || t === 'empty') return undefined
  try {
    return bitcoin.address.fromOutputScript(s, NETWORK)
  } catch {
    return undefined
  }
}

export class AddressError extends Error {}

/** scriptPubKey of a regtest address; AddressError with Esplora's messages otherwise. */
export function addressScript(address: string): Uint8Array {
  try {
    return bitcoin.address.toOutputScript(address, NETWORK)
  } catch {
    for (const other of [bitcoin.networks.bitcoin, bitcoin.networks.testnet]) {
      try {
        bitcoin.address.toOutputScript(address, other)
        throw new AddressError('Address on invalid network')
      } catch (e) {
        if (e instanceof AddressError) throw e
      }
    }
    throw new AddressError('Invalid Bitcoin address')
  }
}
