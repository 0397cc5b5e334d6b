import { Injectable } from '@nestjs/common'
import type { UtxoDto, UtxoListDto, UtxoListQuery } from '@tw/api'
import { PresignatureService } from './presignature.service'
import { WALLET_TYPES, WalletService } from './wallet.service'
import { pathString } from './wallet.types'

/**
 * `GET /api/v1/wallet/utxos`: every coin the chain reports for the wallet's issued addresses,
 * with where it stands for a send — spendable, reserved by a send in flight (and which), or
 * waiting for its first confirmation — and, for SegWit, whether a ready presignature covers it.
 */
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
}
