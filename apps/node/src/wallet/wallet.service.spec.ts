import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ChainBackend, ChainUtxo } from '../chain/chain.client'
import type { EtcdRepository } from '../cluster/etcd.repository'
import type { AppConfig } from '../config/config'
import { WalletService, type WalletKey } from './wallet.service'
import { WalletKeys } from './wallet.types'

// A wallet key: BIP32 test vector 1's master public key and chain code (public data only).
const KEY: WalletKey = {
  keyId: 'k1',
  type: 'segwit',
  publicKey: Buffer.from('0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2', 'hex'),
  chainCode: Buffer.from('873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508', 'hex'),
}

/** A chain with coins per address and a tip; it counts the address lookups it answers. */
class FakeChain implements Partial<ChainBackend> {
  readonly url = 'fake'
  tip = 'aa'.repeat(32)
  coins = new Map<string, ChainUtxo[]>()
  lookups = 0
  tipHash = async () => this.tip
  utxos = async (address: string) => {
    this.lookups++
    return this.coins.get(address) ?? []
  }
}

function wallet(): { w: WalletService; chain: FakeChain; issue: (receive: number, change: number) => void } {
  const chain = new FakeChain()
  const index = new Map<string, number>()
  const etcd = { get: async (k: string) => (index.has(k) ? { value: { next: index.get(k) } } : null) } as unknown as EtcdRepository
  const config = { chain: { network: 'regtest' } } as AppConfig
  const w = new WalletService(config, etcd, chain as unknown as ChainBackend)
  const issue = (receive: number, change: number) => {
    index.set(WalletKeys.addressIndex(KEY.keyId, 0), receive)
    index.set(WalletKeys.addressIndex(KEY.keyId, 1), change)
  }
  return { w, chain, issue }
}

const coin = (n: number, confirmed = true): ChainUtxo => ({ txid: String(n % 10).repeat(64), vout: n, value: 10_000 * n, confirmed, blockHeight: confirmed ? 100 : null })
const outpoints = (us: { txid: string; vout: number }[]) => us.map((u) => `${u.txid.slice(0, 1)}:${u.vout}`)

describe('incremental UTXO sync', () => {
  it('asks the chain about every issued address once per tip, then only about addresses issued since', async () => {
    const { w, chain, issue } = wallet()
    issue(3, 2)
    chain.coins.set(w.derive(KEY, [0, 1]).address, [coin(1), coin(2, false)])
    chain.coins.set(w.derive(KEY, [1, 0]).address, [coin(3)])

    assert.deepEqual(outpoints(await w.confirmedUtxos(KEY)), ['1:1', '3:3'], 'confirmed coins only')
    assert.equal(chain.lookups, 5, 'a full scan at a new tip')

    assert.deepEqual(outpoints(await w.confirmedUtxos(KEY)), ['1:1', '3:3'])
    assert.equal(chain.lookups, 5, 'nothing asked again at the same tip')

    // Two new addresses (a receive and a change), one of which already holds a confirmed coin.
    issue(4, 3)
    chain.coins.set(w.derive(KEY, [0, 3]).address, [coin(4)])
    assert.deepEqual(outpoints(await w.confirmedUtxos(KEY)), ['1:1', '3:3', '4:4'])
    assert.equal(chain.lookups, 7, 'only the two new addresses')

    // A new block: the coin at m/0/1 was spent, the unconfirmed one confirmed. Everything is asked again.
    chain.tip = 'bb'.repeat(32)
    chain.coins.set(w.derive(KEY, [0, 1]).address, [coin(2)])
    assert.deepEqual(outpoints(await w.confirmedUtxos(KEY)), ['2:2', '3:3', '4:4'])
    assert.equal(chain.lookups, 14)
  })

  it('keeps every coin (confirmed or not) in the full view used for balances', async () => {
    const { w, chain, issue } = wallet()
    issue(2, 0)
    chain.coins.set(w.derive(KEY, [0, 1]).address, [coin(1), coin(2, false)])
    assert.deepEqual(outpoints(await w.utxos(KEY)), ['1:1', '2:2'])
    assert.equal(chain.lookups, 2)
  })
})
