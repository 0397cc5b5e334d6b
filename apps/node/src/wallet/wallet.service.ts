import { Inject, Injectable, Logger } from '@nestjs/common'
import type { AddressDto, AddressInfoDto, AddressListDto, AddressListQuery, BalanceDto, DescriptorsDto, WalletType } from '@tw/api'
import { deriveEcdsaChild, deriveTaprootOutputKey, segwitAddress, taprootAddress, walletDescriptors, type Utxo } from '@tw/bitcoin'
import { AuditService } from '../audit/audit.service'
import { EtcdKeys, EtcdRepository } from '../cluster/etcd.repository'
import { EngineRepository } from '../engine/engine.repository'
import { MetricsService } from '../metrics/metrics.service'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { WalletRequestError } from '../common/errors'
import { mapInBatches } from '../common/async'
import { BoundedMap } from '../common/bounded'
import type { KeyRecord } from '../keys/dkg.types'
import { CHAIN, type ChainBackend, type ChainUtxo, ChainUnavailableError } from '../chain/chain.client'
import { pathString, WalletKeys } from './wallet.types'

export const PROTOCOL_OF: Record<WalletType, 'ecdsa' | 'schnorr'> = { segwit: 'ecdsa', taproot: 'schnorr' }
export const WALLET_TYPES: WalletType[] = ['segwit', 'taproot']
/** Derived addresses kept in memory (about 200 bytes each). */
const DERIVED_CACHE_MAX = 100_000
/** Address lookups in flight at once during a UTXO sync. */
const SYNC_CONCURRENCY = 16

/** Paths of the addresses issued from `from` (receive, change counts) up to `to`. */
function issuedPaths(from: [number, number], to: [number, number]): number[][] {
  const paths: number[][] = []
  for (let i = from[0]; i < to[0]; i++) paths.push([0, i])
  for (let i = from[1]; i < to[1]; i++) paths.push([1, i])
  return paths
}

const byOutpoint = (a: { txid: string; vout: number }, b: { txid: string; vout: number }) => (a.txid === b.txid ? a.vout - b.vout : a.txid.localeCompare(b.txid))

/** An active key as the wallet uses it. */
export interface WalletKey {
  keyId: string
  type: WalletType
  publicKey: Uint8Array
  chainCode: Uint8Array
}

/** A wallet UTXO with what spending it needs. */
export interface WalletUtxo extends Utxo {
  confirmed: boolean
  /** Height of the block that holds it; null while in the mempool. */
  blockHeight: number | null
  address: string
}

/**
 * Keys, addresses and coins. Addresses are BIP32 children m/0/i (receive) and m/1/i (change)
 * of the active key of each type; the next index of each chain is a counter in etcd taken
 * with a compare-and-swap, so no two requests (on any node) ever get the same address.
 * Coins are whatever the chain reports for the addresses issued so far (plus a look-ahead).
 */
@Injectable()
export class WalletService {
  private readonly derived = new BoundedMap<string, { address: string; scriptPubKey: Uint8Array }>(DERIVED_CACHE_MAX)
  /** Per key id: the confirmed coins at one tip and the address counts they cover. */
  private readonly confirmed = new Map<string, { tip: string; issued: [number, number]; utxos: WalletUtxo[] }>()
  /** Key ids whose etcd record did not match this node's share (logged and audited once). */
  private readonly mismatched = new Set<string>()
  /** Key ids of active records this node holds no share of, passed over (logged and audited once). */
  private readonly passedOver = new Set<string>()
  private readonly log = new Logger('Wallet')

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    @Inject(CHAIN) private readonly chainBackend: ChainBackend | null,
    private readonly engine: EngineRepository,
    private readonly metrics: MetricsService,
    private readonly audit: AuditService,
  ) {}

  get network() {
    return this.config.chain.network
  }

  chain(): ChainBackend {
    if (!this.chainBackend) throw new ChainUnavailableError('no chain configured (TW_CHAIN_URL)')
    return this.chainBackend
  }

  /**
   * The active key of `type`: the oldest active record of a key this node holds a share of, or
   * null. A record of a key this node holds no share of is passed over (inserted in etcd by a
   * writer: it would otherwise stall every address and spend), logged and audited once; when no
   * active record is held, the first one answers NO_ACTIVE_KEY naming it.
   */
  async findKey(type: WalletType): Promise<WalletKey | null> {
    const keys = (await this.etcd.getPrefix<KeyRecord>(EtcdKeys.keys))
      .map((e) => e.value)
      .filter((k) => k.protocol === PROTOCOL_OF[type] && k.status === 'active' && k.publicKey && k.chainCode)
      .sort((a, b) => (a.activatedAt ?? a.createdAt).localeCompare(b.activatedAt ?? b.createdAt))
    const held = this.engine.isStarted ? keys.filter((k) => this.engine.keyInfo(k.protocol, k.keyId)) : keys
    if (held.length > 0) for (const k of keys.slice(0, keys.indexOf(held[0]))) this.unheld(k)
    const k = held[0] ?? keys[0]
    return k ? this.fromShare(k) : null
  }

  /** An active key record before the held one, of a key this node holds no share of: logged and audited once. */
  private unheld(k: KeyRecord): void {
    if (this.passedOver.has(k.keyId)) return
    this.passedOver.add(k.keyId)
    this.log.error(`key record ${k.keyId} in etcd names a ${k.protocol} key this node holds no share of: passed over (not created by this cluster's DKG here)`)
    void this.audit.record('key.record_unheld', { keyId: k.keyId, record: { publicKey: k.publicKey, chainCode: k.chainCode, activatedAt: k.activatedAt ?? k.createdAt } })
  }

  /**
   * The wallet key of an active key record, taken from this node's own key share (DESIGN §5
   * trust model (b)): etcd only says which key is active. A record whose public key or chain
   * code differs from the share (rewritten in etcd: every deposit address would change) is
   * refused with KEY_RECORD_MISMATCH, raises `mpc_key_record_mismatch` and is audited.
   */
  private fromShare(k: KeyRecord): WalletKey {
    const type: WalletType = k.protocol === 'ecdsa' ? 'segwit' : 'taproot'
    const share = this.engine.isStarted ? this.engine.keyInfo(k.protocol, k.keyId) : null
    if (!share) throw new WalletRequestError('NO_ACTIVE_KEY', 409, `this node holds no share of the active ${k.protocol} key ${k.keyId}`)
    const matches = share.publicKey === k.publicKey && share.chainCode === k.chainCode
    this.metrics.keyRecordMismatch.set({ key_id: k.keyId }, matches ? 0 : 1)
    if (!matches) {
      if (!this.mismatched.has(k.keyId)) {
        this.mismatched.add(k.keyId)
        this.log.error(`key record ${k.keyId} in etcd does not match this node's share: refusing every address and spend of it`)
        void this.audit.record('key.record_mismatch', { keyId: k.keyId, record: { publicKey: k.publicKey, chainCode: k.chainCode }, share })
      }
      throw new WalletRequestError(
        'KEY_RECORD_MISMATCH',
        503,
        `the ${k.protocol} key record ${k.keyId} in etcd does not match this node's key share; it is refused until an operator restores it`,
      )
    }
    this.mismatched.delete(k.keyId)
    return { keyId: k.keyId, type, publicKey: Buffer.from(share.publicKey, 'hex'), chainCode: Buffer.from(share.chainCode, 'hex') }
  }

  async key(type: WalletType): Promise<WalletKey> {
    const k = await this.findKey(type)
    if (!k) throw new WalletRequestError('NO_ACTIVE_KEY', 409, `no active ${PROTOCOL_OF[type]} key for ${type} addresses: create one with POST /api/v1/keys`)
    return k
  }

  /** The key with this id, as a wallet key. */
  async keyById(keyId: string): Promise<WalletKey | null> {
    const k = (await this.etcd.get<KeyRecord>(EtcdKeys.key(keyId)))?.value
    if (!k || k.status !== 'active' || !k.publicKey || !k.chainCode) return null
    return this.fromShare(k)
  }

  /** Address and scriptPubKey of `key` at `path` (memoised: a UTXO sync derives every issued address). */
  derive(key: WalletKey, path: number[]): { address: string; scriptPubKey: Uint8Array } {
    const id = `${key.keyId}/${Buffer.from(key.publicKey).toString('hex')}/${path.join('/')}`
    const hit = this.derived.get(id)
    if (hit) return hit
    const out =
      key.type === 'segwit'
        ? segwitAddress(deriveEcdsaChild(key.publicKey, key.chainCode, path), this.network)
        : taprootAddress(deriveTaprootOutputKey(key.publicKey, key.chainCode, path), this.network)
    this.derived.set(id, out)
    return out
  }

  /** A fresh address: takes the next index of the chain with a compare-and-swap (and its label, in the same etcd transaction); audited (`address.issued`). */
  async nextAddress(type: WalletType, change: boolean, label: string | null = null): Promise<AddressDto> {
    const key = await this.key(type)
    const chain = change ? 1 : 0
    if (!change) await this.withinGapLimit(key)
    const index = await this.takeIndex(key.keyId, chain, label)
    const path = [chain, index]
    const { address } = this.derive(key, path)
    // In the audit log (PostgreSQL) too: after etcd lost the indexes, `cluster recover` hands
    // out none of these again, paid or not.
    void this.audit.record('address.issued', { keyId: key.keyId, chain, index, address, label }, 'api')
    return { address, type, keyId: key.keyId, path: pathString(path), index, change, network: this.network, label }
  }

  /**
   * Refuses a new receive address (GAP_LIMIT_REACHED, 409) while the last
   * `TW_ADDRESS_GAP_LIMIT` handed out have no transaction (in a block or the mempool): a wallet
   * restored from the descriptors stops looking after that many unused addresses (BIP44), and
   * would miss a coin paid to the next one. Concurrent requests may each pass the check once.
   */
  private async withinGapLimit(key: WalletKey): Promise<void> {
    const gap = this.config.addressGapLimit
    if (!gap) return
    const [issued] = await this.issued(key.keyId)
    if (issued < gap) return
    const chain = this.chain()
    const window = Array.from({ length: gap }, (_, i) => issued - 1 - i)
    const used = await mapInBatches(window, SYNC_CONCURRENCY, async (index) => (await chain.addressStats(this.derive(key, [0, index]).address)).txCount > 0)
    if (used.some(Boolean)) return
    throw new WalletRequestError(
      'GAP_LIMIT_REACHED',
      409,
      `the last ${gap} receive addresses handed out (m/0/${issued - gap}..m/0/${issued - 1}) have received nothing: a wallet restored from the descriptors would not look past them (BIP44 gap limit). Use one of them (\`threshold-wallet wallet addresses --unused\`), or raise TW_ADDRESS_GAP_LIMIT on every node and in the watching wallet.`,
      { gapLimit: gap, unusedFrom: issued - gap },
    )
  }

  /** Reserves the next index of `chain` for `keyId` (never handed out twice); with a label, stores it with the index. */
  async takeIndex(keyId: string, chain: 0 | 1, label: string | null = null): Promise<number> {
    const k = WalletKeys.addressIndex(keyId, chain)
    for (let attempt = 0; attempt < 50; attempt++) {
      const cur = await this.etcd.get<{ next: number }>(k)
      const index = cur?.value.next ?? 0
      const labelled: [string, unknown][] = label === null ? [] : [[WalletKeys.addressLabel(keyId, chain, index), { label, at: new Date().toISOString() }]]
      const ok = await this.etcd.atomic(
        cur ? { unchanged: [[k, cur.modRevision]], puts: [[k, { next: index + 1 }], ...labelled] } : { absent: [k], puts: [[k, { next: 1 }], ...labelled] },
      )
      if (ok) return index
    }
    throw new ChainUnavailableError('address index contended: try again')
  }

  /** Indexes handed out so far on each chain. */
  async issued(keyId: string): Promise<[number, number]> {
    const r = await this.etcd.get<{ next: number }>(WalletKeys.addressIndex(keyId, 0))
    const c = await this.etcd.get<{ next: number }>(WalletKeys.addressIndex(keyId, 1))
    return [r?.value.next ?? 0, c?.value.next ?? 0]
  }

  /**
   * `GET /api/v1/wallet/addresses`: the addresses handed out on one chain (receive, or change),
   * newest first, each with its label and what the chain says of it (used, transactions,
   * satoshis received). With `used`, only used (true) or unused (false) ones.
   */
  async listAddresses(q: AddressListQuery & { limit: number }): Promise<AddressListDto> {
    const chain = this.chain()
    const change = q.change === true
    const out: AddressInfoDto[] = []
    let issued = 0
    for (const type of WALLET_TYPES) {
      if (q.type && q.type !== type) continue
      const key = await this.findKey(type)
      if (!key) continue
      const [counts, labels] = await Promise.all([this.issued(key.keyId), this.etcd.getPrefix<{ label: string }>(WalletKeys.addressLabels(key.keyId))])
      const labelOf = new Map(labels.map((e) => [e.key.slice(WalletKeys.addressLabels(key.keyId).length), e.value.label]))
      const count = counts[change ? 1 : 0]
      issued += count
      // Newest first; without a used filter only the page is asked of the chain.
      const newest = Array.from({ length: count }, (_, i) => count - 1 - i)
      const asked = q.used === undefined ? newest.slice(0, Math.max(0, q.limit - out.length)) : newest
      const infos = await mapInBatches(asked, SYNC_CONCURRENCY, async (index): Promise<AddressInfoDto> => {
        const path = [change ? 1 : 0, index]
        const { address } = this.derive(key, path)
        const stats = await chain.addressStats(address)
        const label = labelOf.get(`${change ? 1 : 0}/${index}`) ?? null
        return { address, type, keyId: key.keyId, path: pathString(path), index, change, network: this.network, label, used: stats.txCount > 0, ...stats }
      })
      out.push(...infos.filter((a) => q.used === undefined || a.used === q.used))
    }
    return { network: this.network, addresses: out.slice(0, q.limit), issued }
  }

  /** Paths of every address handed out so far (receive, then change). */
  async issuedPaths(keyId: string): Promise<number[][]> {
    return issuedPaths([0, 0], await this.issued(keyId))
  }

  /** Every coin the chain reports for the key's issued addresses. */
  async utxos(key: WalletKey): Promise<WalletUtxo[]> {
    return this.scan(key, issuedPaths([0, 0], await this.issued(key.keyId)))
  }

  /**
   * The key's confirmed coins, synced incrementally: the whole set of issued addresses is
   * asked again only when the chain's tip changes (nothing confirms between blocks); at the
   * same tip only the addresses issued since are asked. A coin the wallet itself spends stays
   * reserved (`/tw/utxo-locks/`) until its spend confirms, which is a new tip, so a coin
   * remembered here is never offered twice. A reorganisation changes the tip hash too.
   */
  async confirmedUtxos(key: WalletKey): Promise<WalletUtxo[]> {
    const [tip, issued] = await Promise.all([this.chain().tipHash(), this.issued(key.keyId)])
    const known = this.confirmed.get(key.keyId)
    // The tip read before the scan: if a block lands during it, the next call scans again.
    const since: [number, number] = known?.tip === tip ? known.issued : [0, 0]
    const fresh = (await this.scan(key, issuedPaths(since, issued))).filter((u) => u.confirmed)
    const entry = known?.tip === tip ? known : { tip, issued, utxos: [] as WalletUtxo[] }
    const seen = new Set(entry.utxos.map((u) => `${u.txid}:${u.vout}`))
    entry.utxos = [...entry.utxos, ...fresh.filter((u) => !seen.has(`${u.txid}:${u.vout}`))].sort(byOutpoint)
    entry.issued = [Math.max(entry.issued[0], issued[0]), Math.max(entry.issued[1], issued[1])]
    this.confirmed.set(key.keyId, entry)
    return entry.utxos
  }

  /** What the chain reports for the addresses at `paths`, a few requests at a time. */
  private async scan(key: WalletKey, paths: number[][]): Promise<WalletUtxo[]> {
    const chain = this.chain()
    // A few requests at a time: enough to be quick, few enough not to hammer a public Esplora.
    const found = await mapInBatches(paths, SYNC_CONCURRENCY, async (path) => {
      const { address, scriptPubKey } = this.derive(key, path)
      const list: ChainUtxo[] = await chain.utxos(address)
      return list.map((u) => ({
        txid: u.txid,
        vout: u.vout,
        value: u.value,
        scriptPubKey,
        keyType: key.type,
        path,
        confirmed: u.confirmed,
        blockHeight: u.blockHeight,
        address,
      }))
    })
    return found.flat().sort(byOutpoint)
  }

  /** Outpoints reserved by sends in flight (`txid:vout` → transaction id). */
  async reservations(): Promise<Map<string, string>> {
    const entries = await this.etcd.getPrefix<{ txId: string }>(WalletKeys.utxoLocks)
    return new Map(entries.map((e) => [e.key.slice(WalletKeys.utxoLocks.length), e.value.txId]))
  }

  async balance(): Promise<BalanceDto> {
    const chain = this.chain()
    const tipHeight = await chain.tipHeight()
    const locks = await this.reservations()
    const wallets: BalanceDto['wallets'] = []
    for (const type of WALLET_TYPES) {
      const key = await this.findKey(type)
      if (!key) continue
      const utxos = await this.utxos(key)
      const sum = (f: (u: WalletUtxo) => boolean) => utxos.filter(f).reduce((a, u) => a + u.value, 0)
      wallets.push({
        type,
        keyId: key.keyId,
        confirmedSats: sum((u) => u.confirmed),
        unconfirmedSats: sum((u) => !u.confirmed),
        reservedSats: sum((u) => locks.has(`${u.txid}:${u.vout}`)),
        utxos: utxos.length,
      })
    }
    return {
      network: this.network,
      tipHeight,
      wallets,
      confirmedSats: wallets.reduce((a, w) => a + w.confirmedSats, 0),
      unconfirmedSats: wallets.reduce((a, w) => a + w.unconfirmedSats, 0),
    }
  }

  async descriptors(): Promise<DescriptorsDto> {
    const descriptors: DescriptorsDto['descriptors'] = []
    for (const type of WALLET_TYPES) {
      const key = await this.findKey(type)
      if (!key) continue
      descriptors.push({ type, keyId: key.keyId, ...walletDescriptors(key, type, this.network) })
    }
    return { network: this.network, descriptors }
  }
}
