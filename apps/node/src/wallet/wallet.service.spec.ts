import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ChainBackend, ChainUtxo } from '../chain/chain.client'
import { EtcdKeys, type EtcdRepository } from '../cluster/etcd.repository'
import type { AppConfig } from '../config/config'
import type { AuditService } from '../audit/audit.service'
import type { EngineRepository } from '../engine/engine.repository'
import type { KeyRecord } from '../keys/dkg.types'
import { MetricsService } from '../metrics/metrics.service'
import { FakeEtcd } from '../testing/fake-etcd'
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
  stats = new Map<string, { txCount: number; receivedSats: number }>()
  addressStats = async (address: string) => this.stats.get(address) ?? { txCount: 0, receivedSats: 0 }
}

/** What this node's share says of key k1 (the engine's answer). */
const SHARE = { publicKey: Buffer.from(KEY.publicKey).toString('hex'), chainCode: Buffer.from(KEY.chainCode).toString('hex') }

function wallet(records: Record<string, KeyRecord> = {}): { w: WalletService; chain: FakeChain; issue: (receive: number, change: number) => void; audits: string[] } {
  const chain = new FakeChain()
  const index = new Map<string, number>()
  const etcd = {
    get: async (k: string) => (index.has(k) ? { value: { next: index.get(k) } } : k in records ? { value: records[k] } : null),
    getPrefix: async (p: string) => Object.entries(records).flatMap(([key, value]) => (key.startsWith(p) ? [{ key, value }] : [])),
  } as unknown as EtcdRepository
  const config = { nodeId: 1, threshold: 4, chain: { network: 'regtest' } } as AppConfig
  const engine = { isStarted: true, keyInfo: (protocol: string, keyId: string) => (protocol === 'ecdsa' && keyId === 'k1' ? SHARE : null) }
  const audits: string[] = []
  const audit = { record: async (action: string) => void audits.push(action) }
  const w = new WalletService(config, etcd, chain as unknown as ChainBackend, engine as unknown as EngineRepository, new MetricsService(config), audit as unknown as AuditService)
  const issue = (receive: number, change: number) => {
    index.set(WalletKeys.addressIndex(KEY.keyId, 0), receive)
    index.set(WalletKeys.addressIndex(KEY.keyId, 1), change)
  }
  return { w, chain, issue, audits }
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

describe("addresses come from this node's key share, not from etcd (trust model)", () => {
  const record = (over: Partial<KeyRecord> = {}): KeyRecord =>
    ({
      keyId: 'k1',
      protocol: 'ecdsa',
      status: 'active',
      publicKey: SHARE.publicKey,
      chainCode: SHARE.chainCode,
      createdAt: '2026-01-01T00:00:00Z',
      activatedAt: '2026-01-01T00:00:00Z',
      ...over,
    }) as KeyRecord

  it("a key record that matches the share gives the share's key", async () => {
    const { w } = wallet({ [EtcdKeys.key('k1')]: record() })
    const k = await w.key('segwit')
    assert.equal(Buffer.from(k.publicKey).toString('hex'), SHARE.publicKey)
    assert.equal((await w.keyById('k1'))?.keyId, 'k1')
  })

  it('a key record rewritten in etcd (another public key or chain code) is refused: no address from it, audited once', async () => {
    // An attacker's key: BIP32 test vector 2's master public key.
    const forged = record({ publicKey: '03cbcaa9c98c877a26977d00825c956a238e8dddfbd322cce4f74b0b5bd6ace4a7' })
    const { w, audits } = wallet({ [EtcdKeys.key('k1')]: forged })
    await assert.rejects(w.nextAddress('segwit', false), (err: unknown) => (err as { code?: string }).code === 'KEY_RECORD_MISMATCH')
    await assert.rejects(w.descriptors(), (err: unknown) => (err as { code?: string }).code === 'KEY_RECORD_MISMATCH')
    await assert.rejects(w.keyById('k1'), (err: unknown) => (err as { code?: string }).code === 'KEY_RECORD_MISMATCH')
    const other = wallet({ [EtcdKeys.key('k1')]: record({ chainCode: 'ff'.repeat(32) }) })
    await assert.rejects(other.w.key('segwit'), (err: unknown) => (err as { code?: string }).code === 'KEY_RECORD_MISMATCH')
    assert.deepEqual(audits, ['key.record_mismatch'])
  })

  it('a key record inserted in etcd for a key no node holds (older, so first in line) is passed over: the held key still serves, audited once', async () => {
    // Before: the oldest active record was the key, so one etcd writer's insert made every
    // node answer NO_ACTIVE_KEY (no address, no spend) without a vote.
    const inserted = record({
      keyId: 'k0',
      publicKey: '03cbcaa9c98c877a26977d00825c956a238e8dddfbd322cce4f74b0b5bd6ace4a7',
      createdAt: '2025-01-01T00:00:00Z',
      activatedAt: '2025-01-01T00:00:00Z',
    })
    const { w, audits } = wallet({ [EtcdKeys.key('k0')]: inserted, [EtcdKeys.key('k1')]: record() })
    assert.equal((await w.key('segwit')).keyId, 'k1')
    assert.equal((await w.key('segwit')).keyId, 'k1', 'asked again: the same key, no second audit')
    assert.deepEqual(audits, ['key.record_unheld'])
    // A node that holds no share of any active key still says so.
    const lost = wallet({ [EtcdKeys.key('k0')]: inserted })
    await assert.rejects(lost.w.key('segwit'), (err: unknown) => (err as { code?: string }).code === 'NO_ACTIVE_KEY')
  })
})

describe('addresses: labels and what the chain says of each', () => {
  it('a label is stored with the index it takes (one etcd transaction); the list is newest first with labels, used or not, and filters', async () => {
    const etcd = new FakeEtcd()
    await etcd.put(EtcdKeys.key('k1'), {
      keyId: 'k1',
      protocol: 'ecdsa',
      status: 'active',
      publicKey: SHARE.publicKey,
      chainCode: SHARE.chainCode,
      createdAt: '2026-01-01T00:00:00Z',
    })
    const chain = new FakeChain()
    const config = { nodeId: 1, threshold: 4, chain: { network: 'regtest' } } as AppConfig
    const engine = { isStarted: true, keyInfo: (protocol: string, keyId: string) => (protocol === 'ecdsa' && keyId === 'k1' ? SHARE : null) }
    const w = new WalletService(config, etcd as unknown as EtcdRepository, chain as unknown as ChainBackend, engine as unknown as EngineRepository, new MetricsService(config), {
      record: async () => undefined,
    } as unknown as AuditService)
    const first = await w.nextAddress('segwit', false, 'invoice 42')
    assert.equal(first.label, 'invoice 42')
    assert.equal(first.index, 0)
    const commit = etcd.atomics[etcd.atomics.length - 1]
    assert.deepEqual(
      commit.puts?.map(([k]) => k),
      [WalletKeys.addressIndex('k1', 0), WalletKeys.addressLabel('k1', 0, 0)],
    )
    const second = await w.nextAddress('segwit', false)
    const third = await w.nextAddress('segwit', false)
    assert.equal(third.label, null)
    chain.stats.set(second.address, { txCount: 2, receivedSats: 70_000 })

    const all = await w.listAddresses({ limit: 100 })
    assert.equal(all.issued, 3)
    assert.deepEqual(
      all.addresses.map((a) => [a.index, a.label, a.used, a.txCount, a.receivedSats]),
      [
        [2, null, false, 0, 0],
        [1, null, true, 2, 70_000],
        [0, 'invoice 42', false, 0, 0],
      ],
    )
    assert.deepEqual(
      (await w.listAddresses({ used: false, limit: 1 })).addresses.map((a) => a.index),
      [2],
    )
    assert.deepEqual(
      (await w.listAddresses({ used: true, limit: 100 })).addresses.map((a) => a.address),
      [second.address],
    )
    const change = await w.listAddresses({ change: true, limit: 100 })
    assert.deepEqual([change.issued, change.addresses.length], [0, 0])

    // BIP44's gap limit (3 here): a fourth receive address while the last three are unused is
    // refused; once one of them has a transaction, issuing goes on. Change addresses are not limited.
    const gapped = new WalletService(
      { ...config, addressGapLimit: 3 } as AppConfig,
      etcd as unknown as EtcdRepository,
      chain as unknown as ChainBackend,
      engine as unknown as EngineRepository,
      new MetricsService(config),
      {
        record: async () => undefined,
      } as unknown as AuditService,
    )
    chain.stats.clear()
    await assert.rejects(gapped.nextAddress('segwit', false), (err: { code?: string; httpStatus?: number; message?: string }) => {
      assert.deepEqual([err.code, err.httpStatus], ['GAP_LIMIT_REACHED', 409])
      assert.match(err.message ?? '', /the last 3 receive addresses handed out \(m\/0\/0\.\.m\/0\/2\) have received nothing/)
      return true
    })
    assert.equal((await gapped.nextAddress('segwit', true)).path, 'm/1/0')
    chain.stats.set(first.address, { txCount: 1, receivedSats: 1_000 })
    assert.equal((await gapped.nextAddress('segwit', false)).index, 3)
    await assert.rejects(gapped.nextAddress('segwit', false), (err: { code?: string }) => err.code === 'GAP_LIMIT_REACHED')
  })
})
