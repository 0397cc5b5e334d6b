import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { deriveEcdsaChild, segwitAddress } from '@tw/bitcoin'
import type { ChainAddressTx, ChainUtxo } from '../chain/chain.client'
import { CoinsService } from './coins.service'
import type { WalletKey } from './wallet.service'

// CoinsService over a wallet with one SegWit key (BIP32 test vector 1's public key: public
// data only) and a chain that answers per address.

const KEY: WalletKey = {
  keyId: 'k1',
  type: 'segwit',
  publicKey: Buffer.from('0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2', 'hex'),
  chainCode: Buffer.from('873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508', 'hex'),
}
const at = (path: number[]) => segwitAddress(deriveEcdsaChild(KEY.publicKey, KEY.chainCode, path), 'regtest')
const script = (path: number[]) => Buffer.from(at(path).scriptPubKey).toString('hex')
const OUTSIDE = '0014' + '77'.repeat(20)
const TIP = 109

function coins(o: { txs?: Record<string, ChainAddressTx[]>; utxos?: Record<string, ChainUtxo[]>; locks?: [string, string][]; presigned?: string[] }) {
  const asked: string[] = []
  const chain = {
    tipHeight: async () => TIP,
    addressTxs: async (address: string) => (asked.push(address), o.txs?.[address] ?? []),
  }
  const paths = [
    [0, 0],
    [0, 1],
    [1, 0],
  ]
  const wallet = {
    network: 'regtest',
    chain: () => chain,
    findKey: async (type: string) => (type === 'segwit' ? KEY : null),
    issuedPaths: async () => paths,
    derive: (_k: WalletKey, p: number[]) => at(p),
    reservations: async () => new Map(o.locks ?? []),
    utxos: async () =>
      paths.flatMap((p) => (o.utxos?.[at(p).address] ?? []).map((u) => ({ ...u, scriptPubKey: at(p).scriptPubKey, keyType: 'segwit', path: p, address: at(p).address }))),
  }
  const presignatures = { readyPaths: async () => new Set(o.presigned ?? []) }
  return { svc: new CoinsService(wallet as never, presignatures as never), asked }
}

const tx = (txid: string, height: number | null, inputScripts: string[], outputs: [string, number][]): ChainAddressTx => ({
  txid: txid.repeat(32),
  confirmed: height !== null,
  blockHeight: height,
  blockTime: height === null ? null : 1_700_000_000 + height,
  inputScripts,
  outputs: outputs.map(([s, value], vout) => ({ vout, scriptPubKey: s, value })),
})

describe('CoinsService.deposits: payments to the receive addresses', () => {
  const r0 = at([0, 0]).address
  const r1 = at([0, 1]).address
  const txs = {
    // An outside payment to m/0/0 (and change back to the payer), confirmed at 100.
    [r0]: [
      tx(
        'a1',
        100,
        [OUTSIDE],
        [
          [OUTSIDE, 5_000],
          [script([0, 0]), 50_000],
        ],
      ),
      tx('b2', null, [script([1, 0])], [[script([0, 0]), 10_000]]),
    ],
    // Two outputs of one outside transaction to m/0/1, confirmed at 105.
    [r1]: [
      tx(
        'c3',
        105,
        [OUTSIDE],
        [
          [script([0, 1]), 1_000],
          [script([0, 1]), 2_000],
        ],
      ),
    ],
  }

  it('lists each output paying a receive address: unconfirmed first, then newest first; a payment from our own coin is fromWallet', async () => {
    const { svc, asked } = coins({ txs })
    const list = await svc.deposits({ limit: 100 })
    assert.equal(list.addressesScanned, 2)
    assert.deepEqual(asked.sort(), [r0, r1].sort(), 'change addresses are not scanned')
    assert.deepEqual(
      list.deposits.map((d) => [d.txid.slice(0, 2), d.vout, d.valueSats, d.path, d.confirmations, d.fromWallet]),
      [
        ['b2', 0, 10_000, 'm/0/0', 0, true],
        ['c3', 0, 1_000, 'm/0/1', 5, false],
        ['c3', 1, 2_000, 'm/0/1', 5, false],
        ['a1', 1, 50_000, 'm/0/0', 10, false],
      ],
    )
    assert.equal(list.deposits[3].blockTime, new Date((1_700_000_000 + 100) * 1000).toISOString())
    assert.equal(list.deposits[0].blockTime, null)
  })

  it('limit keeps the newest; a type without a key lists nothing', async () => {
    const { svc } = coins({ txs })
    assert.deepEqual(
      (await svc.deposits({ limit: 2 })).deposits.map((d) => d.txid.slice(0, 2)),
      ['b2', 'c3'],
    )
    const none = await svc.deposits({ type: 'taproot', limit: 100 })
    assert.deepEqual(none.deposits, [])
    assert.equal(none.addressesScanned, 0)
  })
})

describe('CoinsService.list: every coin with where it stands', () => {
  it('spendable, reserved (by which send) or unconfirmed; presignature coverage; totals; status filter', async () => {
    const { svc } = coins({
      utxos: {
        [at([0, 0]).address]: [{ txid: 'aa'.repeat(32), vout: 0, value: 70_000, confirmed: true, blockHeight: 100 }],
        [at([0, 1]).address]: [{ txid: 'bb'.repeat(32), vout: 1, value: 20_000, confirmed: true, blockHeight: 108 }],
        [at([1, 0]).address]: [{ txid: 'cc'.repeat(32), vout: 2, value: 5_000, confirmed: false, blockHeight: null }],
      },
      locks: [[`${'bb'.repeat(32)}:1`, 'tx-7']],
      presigned: ['m/0/0'],
    })
    const all = await svc.list({})
    assert.deepEqual(
      all.utxos.map((u) => [u.txid.slice(0, 2), u.status, u.confirmations, u.reservedBy, u.presigned, u.path]),
      [
        ['aa', 'spendable', 10, null, true, 'm/0/0'],
        ['bb', 'reserved', 2, 'tx-7', false, 'm/0/1'],
        ['cc', 'unconfirmed', 0, null, false, 'm/1/0'],
      ],
    )
    assert.deepEqual(all.totals, { spendableSats: 70_000, reservedSats: 20_000, unconfirmedSats: 5_000 })
    const reserved = await svc.list({ status: 'reserved' })
    assert.deepEqual(
      reserved.utxos.map((u) => u.txid.slice(0, 2)),
      ['bb'],
    )
    assert.deepEqual(reserved.totals, { spendableSats: 0, reservedSats: 20_000, unconfirmedSats: 0 })
  })
})
