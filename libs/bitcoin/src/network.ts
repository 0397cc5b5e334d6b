import * as ecc from '@bitcoinerlab/secp256k1'
import { BIP32Factory, type BIP32API } from 'bip32'
import { initEccLib, networks, type Network as BjsNetwork } from 'bitcoinjs-lib'

export type Network = 'mainnet' | 'testnet' | 'testnet4' | 'signet' | 'regtest'
export type KeyType = 'segwit' | 'taproot'

// bitcoinjs needs an ECC library for Taproot (x-only points, tweaks); @bitcoinerlab/secp256k1 is
// pure JS (noble-curves underneath). initEccLib runs its own self-test of the library.
initEccLib(ecc)
export { ecc }
export const bip32: BIP32API = BIP32Factory(ecc)

export const NETWORKS: readonly Network[] = ['mainnet', 'testnet', 'testnet4', 'signet', 'regtest']

/** bitcoinjs parameters: mainnet → bc/xpub; testnet, testnet4, signet → tb/tpub; regtest → bcrt/tpub. */
export function bjsNetwork(network: Network): BjsNetwork {
  switch (network) {
    case 'mainnet':
      return networks.bitcoin
    case 'testnet':
    case 'testnet4':
    case 'signet':
      return networks.testnet
    case 'regtest':
      return networks.regtest
    default:
      throw new TypeError(`unknown network ${String(network)}`)
  }
}
