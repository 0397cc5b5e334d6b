import { Injectable } from '@nestjs/common'
import type { DepositDto, DepositListDto, DepositListQuery, UtxoDto, UtxoListDto, UtxoListQuery } from '@tw/api'
import { mapInBatches } from '../common/async'
import { PresignatureService } from './presignature.service'
import { WALLET_TYPES, WalletService, type WalletKey } from './wallet.service'
import { pathString } from './wallet.types'

/** Transactions read per address for the deposit list (Esplora pages of 25). */
const MAX_TXS_PER_ADDRESS = 1000
/** Addresses asked at once during a deposit scan. */
const SCAN_CONCURRENCY = 8

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/**
 * `GET /api/v1/wallet/utxos`: every coin the chain reports for the wallet's issued addresses,
 * with where it stands for a send — spendable, reserved by a send in flight (and which), or
 * waiting for its first confirmation — and, for SegWit, whether a ready presignature covers it.
 */
/** Coins and incoming payments (`GET /api/v1/wallet/utxos`, `GET /api/v1/wallet/deposits`). */
@Injectable()
export class CoinsService {
  constructor(
    private readonly wallet: WalletService,
    private readonly presignatures: PresignatureService,
  ) {}

  async list(q: UtxoListQuery): Promise<UtxoListDto> {
    const chain = this.wallet.chain()
    const [tipHeight, locks] = await Promise.all([chain.tipHeight(), this.wallet.reservations()])
    const utxos: UtxoDto[] = []
    for (const type of WALLET_TYPES) {
      if (q.type && q.type !== type) continue
      const key = await this.wallet.findKey(type)
      if (!key) continue
      const [coins, presigned] = await Promise.all([this.wallet.utxos(key), type === 'segwit' ? this.presignatures.readyPaths(key.keyId) : null])
      for (const u of coins) {
        const reservedBy = locks.get(`${u.txid}:${u.vout}`) ?? null
        const path = pathString(u.path)
        utxos.push({
          type,
          keyId: key.keyId,
          txid: u.txid,
          vout: u.vout,
          valueSats: u.value,
          address: u.address,
          path,
          status: reservedBy ? 'reserved' : u.confirmed ? 'spendable' : 'unconfirmed',
          confirmations: u.confirmed && u.blockHeight !== null ? Math.max(0, tipHeight - u.blockHeight + 1) : 0,
          reservedBy,
          presigned: presigned?.has(path) ?? false,
        })
      }
    }
    const listed = q.status ? utxos.filter((u) => u.status === q.status) : utxos
    const sum = (status: UtxoDto['status']) => listed.filter((u) => u.status === status).reduce((a, u) => a + u.valueSats, 0)
    return {
      network: this.wallet.network,
      tipHeight,
      utxos: listed,
      totals: { spendableSats: sum('spendable'), reservedSats: sum('reserved'), unconfirmedSats: sum('unconfirmed') },
    }
  }

  /**
   * `GET /api/v1/wallet/deposits`: every output paying one of the wallet's receive addresses
   * (m/0/i, each one handed out so far), found from the chain's history of each address —
   * unconfirmed first, then newest first. `fromWallet` marks a payment whose transaction spends
   * one of the wallet's own coins (a send to its own address), so outside deposits stand apart.
   */
  async deposits(q: DepositListQuery & { limit: number }): Promise<DepositListDto> {
    const chain = this.wallet.chain()
    const tipHeight = await chain.tipHeight()
    const keys: WalletKey[] = []
    for (const type of WALLET_TYPES) {
      const key = await this.wallet.findKey(type)
      if (key) keys.push(key)
    }
    // Every script of the wallet (both types, receive and change): an input spending one is ours.
    const ours = new Set<string>()
    const receive: { key: WalletKey; path: number[]; address: string; script: string }[] = []
    for (const key of keys) {
      for (const path of await this.wallet.issuedPaths(key.keyId)) {
        const { address, scriptPubKey } = this.wallet.derive(key, path)
        ours.add(hex(scriptPubKey))
        if (path[0] === 0 && (!q.type || q.type === key.type)) receive.push({ key, path, address, script: hex(scriptPubKey) })
      }
    }
    const deposits: DepositDto[] = []
    const histories = await mapInBatches(receive, SCAN_CONCURRENCY, (r) => chain.addressTxs(r.address, MAX_TXS_PER_ADDRESS))
    for (const [n, txs] of histories.entries()) {
      const r = receive[n]
      for (const tx of txs) {
        const fromWallet = tx.inputScripts.some((sc) => sc !== null && ours.has(sc))
        for (const out of tx.outputs) {
          if (out.scriptPubKey !== r.script) continue
          deposits.push({
            type: r.key.type,
            keyId: r.key.keyId,
            txid: tx.txid,
            vout: out.vout,
            valueSats: out.value,
            address: r.address,
            path: pathString(r.path),
            confirmations: tx.confirmed && tx.blockHeight !== null ? Math.max(0, tipHeight - tx.blockHeight + 1) : 0,
            blockHeight: tx.confirmed ? tx.blockHeight : null,
            blockTime: tx.confirmed && tx.blockTime !== null ? new Date(tx.blockTime * 1000).toISOString() : null,
            fromWallet,
          })
        }
      }
    }
    // Unconfirmed first, then newest first; an outpoint once (an address listed twice cannot repeat it).
    const height = (d: DepositDto) => d.blockHeight ?? Number.MAX_SAFE_INTEGER
    deposits.sort((a, b) => height(b) - height(a) || a.txid.localeCompare(b.txid) || a.vout - b.vout)
    const unique = deposits.filter((d, i) => i === 0 || d.txid !== deposits[i - 1].txid || d.vout !== deposits[i - 1].vout)
    return { network: this.wallet.network, tipHeight, deposits: unique.slice(0, q.limit), addressesScanned: receive.length }
  }
  /**
   * Whether deposit `d` (as an event claims it) is real for this node: `d.address` is the
   * receive address at `d.path` of this node's own key share, handed out, and the chain has
   * transaction `d.txid` paying it `d.valueSats` at output `d.vout` (in a block, when `d` says
   * it is confirmed). What a node checks before it passes a deposit event on (events/), so a
   * deposit written into the event log by someone else is never announced. Throws when the
   * chain cannot be asked.
   */
  async confirmDeposit(d: DepositDto): Promise<boolean> {
    const key = await this.wallet.findKey(d.type)
    const index = /^m\/0\/(\d+)$/.exec(d.path)?.[1]
    if (!key || key.keyId !== d.keyId || index === undefined) return false
    if (!(await this.wallet.issuedPaths(key.keyId)).some((p) => p[0] === 0 && p[1] === Number(index))) return false
    const { address, scriptPubKey } = this.wallet.derive(key, [0, Number(index)])
    if (address !== d.address) return false
    const tx = (await this.wallet.chain().addressTxs(address, MAX_TXS_PER_ADDRESS)).find((t) => t.txid === d.txid)
    const out = tx?.outputs.find((o) => o.vout === d.vout)
    return tx !== undefined && out !== undefined && out.scriptPubKey === hex(scriptPubKey) && out.value === d.valueSats && (d.confirmations === 0 || tx.confirmed)
  }
}
