import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BitcoinError, buildUnsignedTransaction, deriveEcdsaChild, segwitAddress } from '@tw/bitcoin'
import type { SpendPolicy } from '../config/config'
import { checkProposal, proposalHash, type PolicyContext } from './policy'
import { planPresignatures } from './presignature.service'
import { selectPreferringPresigned } from './send.service'
import type { TxRecord } from './wallet.types'

// A wallet key: BIP32 test vector 1's master public key and chain code (public data only).
const KEY = {
  publicKey: Buffer.from('0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2', 'hex'),
  chainCode: Buffer.from('873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508', 'hex'),
}
const at = (path: number[]) => segwitAddress(deriveEcdsaChild(KEY.publicKey, KEY.chainCode, path), 'regtest')
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const DEST = at([0, 99]) // any regtest P2WPKH address
const policy: SpendPolicy = { maxAmountSats: 1_000_000, dailyLimitSats: 2_000_000, maxFeeSats: 50_000, minFeeRate: 1, maxFeeRate: 100, allow: [], deny: [] }

/** A proposal as SendService builds it: 2 inputs, payment first, change second. */
function proposal(over: { amount?: number; fee?: number; changeScript?: Uint8Array; to?: string; sequence?: number; locktime?: number } = {}): TxRecord {
  const inputs = [
    { txid: 'aa'.repeat(32), vout: 0, value: 60_000, scriptPubKey: hex(at([0, 0]).scriptPubKey), path: [0, 0] },
    { txid: 'bb'.repeat(32), vout: 1, value: 40_000, scriptPubKey: hex(at([0, 1]).scriptPubKey), path: [0, 1] },
  ]
  const amount = over.amount ?? 50_000
  const fee = over.fee ?? 500
  const to = over.to ?? DEST.address
  const toScript = to === DEST.address ? DEST.scriptPubKey : at([0, 98]).scriptPubKey
  const changeScript = over.changeScript ?? at([1, 0]).scriptPubKey
  const outputs = [
    { scriptPubKey: hex(toScript), address: to, value: amount, change: false },
    { scriptPubKey: hex(changeScript), address: null, value: 100_000 - amount - fee, change: true, path: [1, 0] },
  ]
  const unsignedTx = buildUnsignedTransaction({
    inputs: inputs.map((i) => ({ ...i, scriptPubKey: Buffer.from(i.scriptPubKey, 'hex'), keyType: 'segwit' as const, sequence: over.sequence })),
    outputs: outputs.map((o) => ({ scriptPubKey: Buffer.from(o.scriptPubKey, 'hex'), value: o.value })),
    locktime: over.locktime ?? 200,
  })
  const base = { id: '00000000-0000-4000-8000-000000000001', keyId: 'k1', type: 'segwit' as const, to, amountSats: amount, unsignedTx, inputs, outputs }
  return {
    ...base,
    feeSats: fee,
    feeRate: 2,
    vsize: 209,
    locktime: 200,
    proposalHash: proposalHash(base),
    proposedBy: 1,
    state: 'voting',
    attempt: 0,
    signers: null,
    signingMode: null,
    signedTx: null,
    txid: null,
    error: null,
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    history: [],
  }
}

function ctx(tx: TxRecord, over: Partial<PolicyContext> = {}): PolicyContext {
  return {
    network: 'regtest',
    policy,
    scriptAt: (path) => hex(at(path).scriptPubKey),
    utxoExists: (txid, vout, value) => tx.inputs.some((i) => i.txid === txid && i.vout === vout && i.value === value),
    lockOf: () => tx.id,
    spentToday: 0,
    ...over,
  }
}

describe('a voter checks a proposal itself', () => {
  it('approves a well-formed spend within policy', () => {
    const tx = proposal()
    assert.deepEqual(checkProposal(tx, ctx(tx)), { approve: true, reason: null })
  })

  it('rejects a proposal whose contents no longer match its hash', () => {
    const tx = { ...proposal(), amountSats: 49_000 }
    assert.match(rejection(tx), /hash/)
  })

  it('rejects change that does not pay the wallet (re-derived by the voter)', () => {
    const tx = proposal({ changeScript: at([0, 98]).scriptPubKey })
    assert.match(rejection(tx, { scriptAt: (p) => (p[0] === 1 ? 'ff' : hex(at(p).scriptPubKey)) }), /change output does not pay the wallet/)
  })

  it("rejects inputs that are not the wallet's, not unspent, or not reserved for this spend", () => {
    const tx = proposal()
    assert.match(rejection(tx, { scriptAt: () => '00' }), /not the wallet's output/)
    assert.match(rejection(tx, { utxoExists: () => false }), /not an unspent output/)
    assert.match(rejection(tx, { lockOf: () => 'another-tx' }), /reserved by another-tx/)
    assert.match(rejection(tx, { lockOf: () => undefined }), /not reserved/)
  })

  it('enforces amount, daily, fee and destination limits', () => {
    const big = proposal({ amount: 99_000, fee: 500 })
    assert.match(rejection(big, { policy: { ...policy, maxAmountSats: 90_000 } }), /per-transaction limit/)
    assert.match(rejection(proposal(), { spentToday: 1_990_000 }), /daily limit/)
    assert.match(rejection(proposal({ fee: 30_000 }), { policy: { ...policy, maxFeeSats: 20_000 } }), /exceeds the cap/)
    assert.match(rejection(proposal({ fee: 30_000 })), /fee rate .* outside/)
    assert.match(rejection(proposal(), { policy: { ...policy, deny: [DEST.address] } }), /deny list/)
    assert.match(rejection(proposal(), { policy: { ...policy, allow: ['bcrt1qsomethingelse'] } }), /allow list/)
  })

  it('compares the allow and deny lists as output scripts: no spelling of an address escapes them', () => {
    // BIP173: an all-upper-case bech32 address is the same address (the same output script).
    const upper = DEST.address.toUpperCase()
    const shouting = (tx: TxRecord) => ({ ...tx, to: upper, proposalHash: proposalHash({ ...tx, to: upper }) })
    const tx = shouting(proposal())
    assert.match(rejection(tx, { policy: { ...policy, deny: [DEST.address] } }), /deny list/)
    assert.match(rejection(proposal(), { policy: { ...policy, deny: [upper] } }), /deny list/)
    assert.equal(checkProposal(tx, ctx(tx, { policy: { ...policy, allow: [DEST.address] } })).approve, true)
  })

  it('rejects a relative timelock (nSequence) or an nLockTime that is a time: coins held back are not what the wallet proposes', () => {
    assert.match(rejection(proposal({ sequence: 144 })), /input 0 has nSequence 0x90, not one the wallet uses/)
    assert.match(rejection(proposal({ locktime: 1_900_000_000 })), /nLockTime 1900000000 is a time/)
    assert.equal(checkProposal(proposal({ sequence: 0xfffffffd }), ctx(proposal({ sequence: 0xfffffffd }))).approve, true)
  })

  it('rejects a destination of another network', () => {
    const tx = proposal()
    assert.match(rejection(tx, { network: 'mainnet' }), /destination/)
  })

  function rejection(tx: TxRecord, over: Partial<PolicyContext> = {}): string {
    const v = checkProposal(tx, ctx(tx, over))
    assert.equal(v.approve, false, 'expected a rejection')
    return v.reason ?? ''
  }
})

describe('presignature planning', () => {
  it('fills the thinnest paths first, deterministically', () => {
    const have = new Map([['0/0', 1]])
    assert.deepEqual(
      planPresignatures(
        [
          [0, 0],
          [0, 1],
          [1, 0],
        ],
        have,
        4,
      ),
      [
        [0, 1],
        [1, 0],
        [0, 0],
        [0, 1],
      ],
    )
    assert.deepEqual(planPresignatures([], have, 3), [])
  })
})

describe('coin selection with presignatures', () => {
  const coin = (n: number, value: number) => ({ txid: String(n).repeat(64).slice(0, 64), vout: 0, value, keyType: 'segwit' as const, path: [0, n], scriptPubKey: p2wpkh(n) })
  const p2wpkh = (n: number) => at([0, n]).scriptPubKey
  const request = (utxos: ReturnType<typeof coin>[], amount: number) => ({
    utxos,
    outputs: [{ scriptPubKey: p2wpkh(99), value: amount }],
    feeRate: 2,
    change: { scriptPubKey: p2wpkh(98), keyType: 'segwit' as const, path: [1, 0] },
  })
  const presigned =
    (...ns: number[]) =>
    (path: number[]) =>
      ns.includes(path[1])
  const spent = (s: { inputs: { path: number[] }[] }) => s.inputs.map((i) => i.path[1]).sort()

  it('spends a coin that has a presignature when it pays for the request with no more inputs', () => {
    const utxos = [coin(1, 200_000), coin(2, 200_000), coin(3, 50_000), coin(4, 40_000)]
    assert.deepEqual(spent(selectPreferringPresigned(request(utxos, 10_000), presigned(3))), [3])
    assert.deepEqual(spent(selectPreferringPresigned(request(utxos, 10_000), presigned(4))), [4])
    assert.deepEqual(spent(selectPreferringPresigned(request(utxos, 100_000), presigned(1))), [1])
  })

  it('keeps the best selection over every coin when the presigned coins need more inputs or do not pay', () => {
    const utxos = [coin(1, 200_000), coin(3, 50_000), coin(4, 40_000)]
    // 3 + 4 would pay 60 000 with two inputs; coin 1 alone does it with one.
    assert.deepEqual(spent(selectPreferringPresigned(request(utxos, 60_000), presigned(3, 4))), [1])
    assert.deepEqual(spent(selectPreferringPresigned(request(utxos, 150_000), presigned(3, 4))), [1])
    assert.deepEqual(spent(selectPreferringPresigned(request(utxos, 150_000), null)), [1])
    assert.throws(
      () => selectPreferringPresigned(request(utxos, 1_000_000), presigned(3)),
      (err: unknown) => err instanceof BitcoinError && err.code === 'INSUFFICIENT_FUNDS' && /290000 sats available/.test(err.message),
    )
  })
})
