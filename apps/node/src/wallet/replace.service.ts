import { Inject, Injectable } from '@nestjs/common'
import type { ReplaceRequest, TransactionDto } from '@tw/api'
import { buildUnsignedTransaction, dustThreshold, estimateVsize } from '@tw/bitcoin'
import { randomUUID } from 'node:crypto'
import { AuditService } from '../audit/audit.service'
import { NodeIdentityService } from '../byzantine/identity.service'
import { EtcdRepository } from '../cluster/etcd.repository'
import { ConflictError, NotFoundError, WalletRequestError } from '../common/errors'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { MIN_RELAY_FEE_RATE, proposalFee, type ProposalBody } from './policy'
import { newProposal } from './send.service'
import { MAX_REPLACED, replacedChain, TxStore } from './tx-store'
import { WalletService } from './wallet.service'
import { WalletKeys, type ReplacementKind, type TxOutputRecord, type TxRecord } from './wallet.types'

/**
 * `POST /api/v1/transactions/:id/bump` and `/cancel`: a BIP125 replacement of a broadcast
 * transaction that has not confirmed, proposed and voted like any spend. It spends exactly the
 * same inputs (whose reservations it shares), at a higher fee rate and at least the replaced
 * fee plus its own relay fee: a bump pays the same payments, the higher fee out of the change;
 * a cancellation pays everything back to the wallet (the replaced transaction's change address,
 * else the next one). Voters check it against their own approved copy of what it replaces.
 */
@Injectable()
export class ReplaceService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly wallet: WalletService,
    private readonly store: TxStore,
    private readonly audit: AuditService,
    private readonly identity: NodeIdentityService,
  ) {}

  async replace(id: string, asked: ReplacementKind, body: ReplaceRequest): Promise<TransactionDto> {
    const entry = await this.store.get(id)
    if (!entry) throw new NotFoundError(`no unfinished transaction ${id}`)
    const x = entry.value
    const doing = asked === 'bump' ? 'fee-bumped' : 'cancelled'
    if (x.state !== 'broadcast' || !x.txid) {
      throw new WalletRequestError('TX_NOT_REPLACEABLE', 409, `transaction ${id} is ${x.state}: only a broadcast transaction that has not confirmed can be ${doing}`)
    }
    const chain = this.wallet.chain()
    const status = await chain.txStatus(x.txid)
    if (status.confirmed) throw new WalletRequestError('TX_NOT_REPLACEABLE', 409, `transaction ${id} is confirmed (block ${status.blockHeight}): it can no longer be ${doing}`)
    // A cancellation stays one: bumping it is cancelling again at a higher rate.
    const kind: ReplacementKind = x.replacement?.kind === 'cancel' ? 'cancel' : asked
    const key = await this.wallet.keyById(x.keyId)
    if (!key) throw new WalletRequestError('TX_NOT_REPLACEABLE', 409, `transaction ${id} spends with key ${x.keyId}, which is no longer active`)
    const p = this.config.policy
    const old = proposalFee(x)
    const oldRate = old.fee / old.vsize
    const feeRate = body.feeRate ?? Math.max(Math.floor(oldRate) + 1, p.minFeeRate)
    if (!(feeRate > oldRate) || feeRate > p.maxFeeRate) {
      throw new WalletRequestError('FEE_RATE_OUT_OF_BOUNDS', 400, `feeRate must be above the ${oldRate.toFixed(2)} sat/vB transaction ${id} pays, and at most ${p.maxFeeRate}`, {
        feeRate,
        replacedFeeRate: oldRate,
      })
    }
    const owners = await this.reservationOwners(x)
    const locks = await Promise.all(x.inputs.map((i) => this.etcd.get<{ txId: string }>(WalletKeys.utxoLock(i.txid, i.vout))))
    if (locks.some((l) => !l || !owners.has(l.value.txId))) throw new ConflictError(`the coins of transaction ${id} are no longer reserved for it; it cannot be ${doing}`)

    // The fee a replacement of this size pays: the rate asked, and never less than the replaced fee plus its own relay fee.
    const feeFor = (outs: { scriptPubKey: string }[]) => {
      const vsize = estimateVsize(
        x.inputs.map(() => x.type),
        outs.map((o) => Buffer.from(o.scriptPubKey, 'hex')),
      )
      return { vsize, fee: Math.max(Math.ceil(feeRate * vsize), old.fee + MIN_RELAY_FEE_RATE * vsize) }
    }
    const sumIn = x.inputs.reduce((n, i) => n + i.value, 0)
    const change = x.outputs.find((o) => o.change)
    let outputs: TxOutputRecord[]
    let sized: { vsize: number; fee: number }
    let index: { key: string; modRevision: string | null; next: number } | null = null
    if (kind === 'bump') {
      const payments = x.outputs.filter((o) => !o.change)
      if (!change) {
        throw new WalletRequestError('TX_NOT_REPLACEABLE', 409, `transaction ${id} has no change output to pay a higher fee from: cancel it (tx cancel) and send again`)
      }
      sized = feeFor(x.outputs)
      const left = change.value - (sized.fee - old.fee)
      if (left >= dustThreshold(Buffer.from(change.scriptPubKey, 'hex'))) {
        outputs = [...payments, { ...change, value: left }]
      } else {
        // The change cannot stay above dust: it all goes to the fee, if that is enough.
        sized = { ...feeFor(payments), fee: old.fee + change.value }
        const least = feeFor(payments).fee
        if (sized.fee < least) {
          throw new WalletRequestError(
            'TX_NOT_REPLACEABLE',
            409,
            `the change of transaction ${id} (${change.value} sats) cannot pay ${least - old.fee} sats more fee: cancel it (tx cancel) and send again`,
          )
        }
        outputs = payments
      }
    } else {
      let path = change?.path
      if (!path) {
        const indexKey = WalletKeys.addressIndex(key.keyId, 1)
        const at = await this.etcd.get<{ next: number }>(indexKey)
        index = { key: indexKey, modRevision: at?.modRevision ?? null, next: at?.value.next ?? 0 }
        path = [1, index.next]
      }
      const back = this.wallet.derive(key, path)
      const out: TxOutputRecord = { scriptPubKey: Buffer.from(back.scriptPubKey).toString('hex'), address: back.address, value: 0, change: true, path }
      sized = feeFor([out])
      out.value = sumIn - sized.fee
      if (out.value < dustThreshold(back.scriptPubKey)) {
        throw new WalletRequestError('TX_NOT_REPLACEABLE', 409, `the coins of transaction ${id} (${sumIn} sats) would not pay a ${sized.fee} sats fee`)
      }
      outputs = [out]
    }
    if (sized.fee > p.maxFeeSats) {
      throw new WalletRequestError('FEE_TOO_HIGH', 422, `the replacement's fee of ${sized.fee} sats exceeds the cap of ${p.maxFeeSats}`, {
        fee: sized.fee,
        maxFeeSats: p.maxFeeSats,
      })
    }

    const tip = await chain.tipHeight()
    const unsignedTx = buildUnsignedTransaction({
      inputs: x.inputs.map((i) => ({ ...i, scriptPubKey: Buffer.from(i.scriptPubKey, 'hex'), keyType: x.type })),
      outputs: outputs.map((o) => ({ scriptPubKey: Buffer.from(o.scriptPubKey, 'hex'), value: o.value })),
      locktime: tip,
      rbf: true,
    })
    const txId = randomUUID()
    const base: ProposalBody = {
      id: txId,
      keyId: x.keyId,
      type: x.type,
      to: kind === 'cancel' ? (outputs[0].address ?? x.to) : x.to,
      amountSats: kind === 'cancel' ? 0 : x.amountSats,
      ...(kind === 'bump' && x.recipients ? { recipients: x.recipients } : {}),
      ...(x.memo !== undefined ? { memo: x.memo } : {}),
      ...(x.externalId !== undefined ? { externalId: x.externalId } : {}),
      replacement: { of: x.id, kind },
      unsignedTx,
      inputs: x.inputs,
      outputs,
    }
    const now = new Date().toISOString()
    const record = newProposal(base, {
      feeSats: sized.fee,
      feeRate: Math.round((sized.fee / sized.vsize) * 100) / 100,
      vsize: sized.vsize,
      locktime: tip,
      proposedBy: this.config.nodeId,
      sign: (statement) => this.identity.sign(statement),
      now,
    })
    const ok = await this.etcd.atomic({
      absent: [WalletKeys.tx(txId), ...(index && index.modRevision === null ? [index.key] : [])],
      unchanged: [
        [entry.key, entry.modRevision],
        ...x.inputs.map((i, n) => [WalletKeys.utxoLock(i.txid, i.vout), locks[n]!.modRevision] as [string, string]),
        ...(index?.modRevision ? [[index.key, index.modRevision] as [string, string]] : []),
      ],
      puts: [[WalletKeys.tx(txId), record], [WalletKeys.active(txId), { createdAt: now }], ...(index ? [[index.key, { next: index.next + 1 }] as [string, unknown]] : [])],
    })
    if (!ok) throw new ConflictError(`transaction ${id} or its coins changed meanwhile; retry`)
    await this.store.mirror(record, null, null)
    await this.audit.record(
      'tx.proposed',
      {
        txId,
        type: record.type,
        replaces: x.id,
        kind,
        amountSats: record.amountSats,
        feeSats: record.feeSats,
        replacedFeeSats: old.fee,
        inputs: record.inputs.length,
        requestId: record.requestId ?? null,
      },
      'api',
    )
    return this.store.toDto(record)
  }

  /** The transactions whose coin reservations `x` may hold: itself and every one named along its chain of replacements. */
  private async reservationOwners(x: TxRecord): Promise<Set<string>> {
    const chain = await replacedChain(x, (id) => this.store.get(id))
    const named = [x, ...chain].flatMap((r) => (r.replacement ? [r.replacement.of] : []))
    return new Set([x.id, ...named.slice(0, MAX_REPLACED)])
  }
}
