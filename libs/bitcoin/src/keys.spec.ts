import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as ecc from '@bitcoinerlab/secp256k1'
import { BIP32Factory } from 'bip32'
import { networks, payments } from 'bitcoinjs-lib'
import {
  BitcoinError,
  deriveEcdsaChild,
  deriveTaprootInternalKey,
  deriveTaprootOutputKey,
  descriptorChecksum,
  encodeExtendedPublicKey,
  parseAddress,
  segwitAddress,
  taprootAddress,
  taprootTweak,
  walletDescriptors,
} from './index'
import { BIP32, BIP341, BIP380, BIP84, BIP86 } from './vectors'

const bip32 = BIP32Factory(ecc)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const code = (c: string) => (e: unknown) => e instanceof BitcoinError && e.code === c

describe('BIP32 CKDpub (test vectors 1 and 2)', () => {
  for (const [parent, index, child] of BIP32.ckdPubSteps) {
    it(`${parent.slice(0, 12)}… /${index}`, () => {
      const p = bip32.fromBase58(parent)
      assert.equal(hex(deriveEcdsaChild(p.publicKey, p.chainCode, [index])), hex(bip32.fromBase58(child).publicKey))
    })
  }
  it('derives along a multi-step path', () => {
    const p = bip32.fromBase58(BIP32.multiStep.parent)
    assert.equal(hex(deriveEcdsaChild(p.publicKey, p.chainCode, BIP32.multiStep.path)), hex(bip32.fromBase58(BIP32.multiStep.child).publicKey))
  })
  it('rejects hardened and malformed path elements with INVALID_PATH', () => {
    const p = bip32.fromBase58(BIP32.multiStep.parent)
    for (const bad of [[0x80000000], [-1], [1.5], [Number.NaN], [2 ** 32]]) {
      assert.throws(() => deriveEcdsaChild(p.publicKey, p.chainCode, bad), code('INVALID_PATH'), JSON.stringify(bad))
    }
  })
  it('encodes a depth-0 xpub/tpub that round-trips', () => {
    const p = bip32.fromBase58(BIP86.accountXpub)
    const xpub = encodeExtendedPublicKey(p.publicKey, p.chainCode, 'mainnet')
    assert.match(xpub, /^xpub/)
    const back = bip32.fromBase58(xpub)
    assert.equal(back.depth, 0)
    assert.equal(back.parentFingerprint, 0)
    assert.equal(back.index, 0)
    assert.equal(hex(back.publicKey), hex(p.publicKey))
    assert.equal(hex(back.chainCode), hex(p.chainCode))
    for (const n of ['testnet', 'testnet4', 'signet', 'regtest'] as const) {
      assert.match(encodeExtendedPublicKey(p.publicKey, p.chainCode, n), /^tpub/)
    }
  })
})

describe('BIP84 (P2WPKH) from the account zpub', () => {
  const zpubNetwork = { ...networks.bitcoin, bip32: { public: 0x04b24746, private: 0x04b2430c } }
  const account = bip32.fromBase58(BIP84.accountZpub, zpubNetwork)
  for (const v of BIP84.addresses) {
    it(`m/84'/0'/0'/${v.path.join('/')}`, () => {
      const pub = deriveEcdsaChild(account.publicKey, account.chainCode, v.path)
      assert.equal(hex(pub), v.pubkey)
      assert.equal(segwitAddress(pub, 'mainnet').address, v.address)
      assert.deepEqual(parseAddress(v.address, 'mainnet'), { type: 'p2wpkh', scriptPubKey: segwitAddress(pub, 'mainnet').scriptPubKey })
    })
  }
})

describe('BIP86 (P2TR key path) from the account xpub', () => {
  const account = bip32.fromBase58(BIP86.accountXpub)
  for (const v of BIP86.addresses) {
    it(`m/86'/0'/0'/${v.path.join('/')}`, () => {
      assert.equal(hex(deriveTaprootInternalKey(account.publicKey, account.chainCode, v.path)), v.internalKey)
      const out = deriveTaprootOutputKey(account.publicKey, account.chainCode, v.path)
      assert.equal(hex(out), v.outputKey)
      const a = taprootAddress(out, 'mainnet')
      assert.equal(a.address, v.address)
      assert.equal(hex(a.scriptPubKey), v.scriptPubKey)
    })
  }
  it('BIP341 wallet vector: key-path-only tweak of an internal key', () => {
    const q = taprootTweak(Buffer.from(BIP341.tweak.internalPubkey, 'hex'))
    assert.equal(hex(q), BIP341.tweak.tweakedPubkey)
    assert.equal(taprootAddress(q, 'mainnet').address, BIP341.tweak.bip350Address)
  })
})

describe('addresses', () => {
  const pub = Buffer.from(BIP84.addresses[0].pubkey, 'hex')
  it('uses bc / tb / bcrt', () => {
    assert.match(segwitAddress(pub, 'mainnet').address, /^bc1q/)
    for (const n of ['testnet', 'testnet4', 'signet'] as const) assert.match(segwitAddress(pub, n).address, /^tb1q/)
    assert.match(segwitAddress(pub, 'regtest').address, /^bcrt1q/)
    assert.match(taprootAddress(Buffer.from(BIP86.addresses[0].outputKey, 'hex'), 'regtest').address, /^bcrt1p/)
  })
  it('parses every standard type', () => {
    const cases: [string, string][] = [
      ['1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2', 'p2pkh'],
      ['3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy', 'p2sh'],
      ['bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3', 'p2wsh'], // BIP173
      ['BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4', 'p2wpkh'], // BIP173, upper case
      [BIP86.addresses[0].address, 'p2tr'],
    ]
    for (const [a, type] of cases) assert.equal(parseAddress(a, 'mainnet').type, type, a)
  })
  it('WRONG_NETWORK for an address of another network', () => {
    assert.throws(() => parseAddress(BIP84.addresses[0].address, 'regtest'), code('WRONG_NETWORK'))
    assert.throws(() => parseAddress(segwitAddress(pub, 'testnet').address, 'mainnet'), code('WRONG_NETWORK'))
    assert.throws(() => parseAddress(segwitAddress(pub, 'regtest').address, 'signet'), code('WRONG_NETWORK'))
    assert.throws(() => parseAddress('1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2', 'testnet'), code('WRONG_NETWORK'))
    // tb1 addresses serve testnet, testnet4 and signet alike
    assert.equal(parseAddress(segwitAddress(pub, 'testnet').address, 'signet').type, 'p2wpkh')
  })
  it('INVALID_ADDRESS for corrupted checksums and garbage', () => {
    const good = BIP84.addresses[0].address
    const corrupted = good.slice(0, -1) + (good.endsWith('q') ? 'p' : 'q')
    for (const a of [
      corrupted,
      '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3',
      'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd', // BIP350: v1 with a bech32 (not bech32m) checksum
      'hello',
      '',
      ` ${good}`,
    ]) {
      assert.throws(() => parseAddress(a, 'mainnet'), code('INVALID_ADDRESS'), a)
    }
  })
})

describe('BIP380 descriptor checksums', () => {
  for (const [d, c] of BIP380.valid) it(`${d.slice(0, 20)}… → ${c}`, () => assert.equal(descriptorChecksum(d), c))
  it('an error in the payload changes the checksum', () => {
    assert.notEqual(descriptorChecksum(BIP380.errorInPayload[0]), BIP380.errorInPayload[1])
  })
  it('rejects characters outside the descriptor character set', () => {
    assert.throws(() => descriptorChecksum(BIP380.invalidCharacter), TypeError)
  })
})

describe('walletDescriptors', () => {
  // An independent reading of the descriptor: check the checksum, decode the xpub with bip32, derive
  // with bip32 and build the address with bitcoinjs (payments.p2tr from the internal key does the tweak).
  function addressFromDescriptor(desc: string, index: number): string {
    const m = /^(wpkh|tr)\(([xt]pub[1-9A-HJ-NP-Za-km-z]+)\/([01])\/\*\)#([a-z0-9]{8})$/.exec(desc)
    assert.ok(m, desc)
    assert.equal(descriptorChecksum(desc.slice(0, -9)), m[4])
    const network = m[2].startsWith('xpub') ? networks.bitcoin : networks.regtest
    const child = bip32.fromBase58(m[2], network).derive(Number(m[3])).derive(index)
    const p = m[1] === 'wpkh' ? payments.p2wpkh({ pubkey: child.publicKey, network }) : payments.p2tr({ internalPubkey: child.publicKey.subarray(1), network })
    return p.address!
  }
  const root = bip32.fromSeed(Buffer.alloc(32, 7))
  const key = { publicKey: root.publicKey, chainCode: root.chainCode }
  it('wpkh(tpub…/0/*) and /1/* give the same addresses as segwitAddress(deriveEcdsaChild(…))', () => {
    const d = walletDescriptors(key, 'segwit', 'regtest')
    assert.match(d.receive, /^wpkh\(tpub[^/]+\/0\/\*\)#[a-z0-9]{8}$/)
    assert.match(d.change, /^wpkh\(tpub[^/]+\/1\/\*\)#[a-z0-9]{8}$/)
    for (const i of [0, 1, 7]) {
      assert.equal(addressFromDescriptor(d.receive, i), segwitAddress(deriveEcdsaChild(key.publicKey, key.chainCode, [0, i]), 'regtest').address)
      assert.equal(addressFromDescriptor(d.change, i), segwitAddress(deriveEcdsaChild(key.publicKey, key.chainCode, [1, i]), 'regtest').address)
    }
  })
  it('tr(xpub…/0/*) and /1/* give the same addresses as taprootAddress(deriveTaprootOutputKey(…))', () => {
    const d = walletDescriptors(key, 'taproot', 'mainnet')
    assert.match(d.receive, /^tr\(xpub[^/]+\/0\/\*\)#[a-z0-9]{8}$/)
    for (const i of [0, 1, 7]) {
      assert.equal(addressFromDescriptor(d.receive, i), taprootAddress(deriveTaprootOutputKey(key.publicKey, key.chainCode, [0, i]), 'mainnet').address)
      assert.equal(addressFromDescriptor(d.change, i), taprootAddress(deriveTaprootOutputKey(key.publicKey, key.chainCode, [1, i]), 'mainnet').address)
    }
  })
})
