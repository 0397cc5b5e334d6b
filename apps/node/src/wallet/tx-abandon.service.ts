import { Injectable, Logger } from '@nestjs/common'
import type { AbandonDto } from '@tw/api'
import { transactionId } from '@tw/bitcoin'
import { AuditService } from '../audit/audit.service'
import { ChainUnavailableError, type ChainOutspend, type ChainTxStatus } from '../chain/chain.client'
import { errorMessage } from '../common/async'
import { ConflictError, DependencyUnavailableError, DomainError, NotFoundError, WalletRequestError } from '../common/errors'
import { EtcdRepository, type EtcdEntry } from '../cluster/etcd.repository'
import { TxStore } from './tx-store'
import { WalletService } from './wallet.service'
import { WalletKeys, type TxRecord } from './wallet.types'

/** Who asked (the API token the request was authenticated with), for the audit entry. */
export interface AbandonCaller {
  tokenId: string
  name: string
}

/** What the chain answered about the transaction, as the audit entry records it. */
interface ChainAnswers {
  status: ChainTxStatus
  outspends: ({ outpoint: string } & ChainOutspend)[]
}

/**
 * `tx abandon` (issue 14 item 2): releases the coin reservations of a send the chain refused
 * as invalid (`failed CHAIN_REJECTED` keeps them, because the signed transaction might still
 * confirm). Only after the chain says it has neither the transaction nor an input spent by it;
 * the locks that still name the transaction are deleted in one etcd compare-and-swap with the
 * record, and the release is audited (`tx.abandoned`) with the reason and who asked.
 *
 * The record is left as it is (state `failed`, the leader's signed decision): this is an
 * operator's release of coins, not a decision about the send, and any node may answer it.
 *
 * @example
 * await abandon.abandon(txId, 'mandatory-script-verify-flag-failed: checked with the signers', { tokenId, name })
 */
@Injectable()
export class TxAbandonService {
  private readonly log = new Logger('TxAbandon')

  constructor(
    private readonly etcd: EtcdRepository,
    private readonly wallet: WalletService,
    private readonly store: TxStore,
    private readonly audit: AuditService,
  ) {}

  /**
   * Releases the reservations of failed transaction `id`. Throws NOT_FOUND (no such
   * transaction), TX_NOT_ABANDONABLE (not failed, or no reservation names it: already
   * released), TX_ON_CHAIN (the chain has it, or an input is spent by it), CHAIN_UNAVAILABLE
   * (the chain could not be asked: nothing released), CONFLICT (the record or a reservation
   * changed meanwhile: nothing released).
   */
  async abandon(id: string, reason: string, caller: AbandonCaller | null): Promise<AbandonDto> {
    const entry = await this.store.get(id)
    if (!entry) {
      // Finished transactions leave etcd only once no reservation names them.
      const historic = await this.store.fromMirror(id).catch(() => null)
      if (historic) throw notAbandonable(`transaction ${id} holds no coin reservations (its record left etcd after it finished): nothing to release`)
      throw new NotFoundError(`no transaction ${id}`)
    }
    const tx = entry.value
    if (tx.state !== 'failed') throw notAbandonable(`transaction ${id} is ${tx.state}, not failed: only a failed send's coins can be released this way`)
    if (tx.error?.code === 'REPLACED') {
      throw notAbandonable(`transaction ${id} was replaced by ${tx.replacedBy ?? 'its fee bump or cancellation'}, which holds these coins until it confirms: nothing to release`)
    }
    const locks = await this.locksNaming(tx)
    if (locks.length === 0) throw notAbandonable(`transaction ${id} holds no coin reservations (already released): nothing to release`)
    const txid = txidOf(tx)
    const chain = await this.askChain(tx, txid)
    const released = locks.map((l) => l.key.slice(WalletKeys.utxoLocks.length))
    const keys = locks.map((l) => l.key)
    const ops = {
      unchanged: [[entry.key, entry.modRevision] as [string, string], ...locks.map((l) => [l.key, l.modRevision] as [string, string])],
      deletes: keys,
    }
    let ok: boolean
    try {
      ok = await this.etcd.atomic(ops)
    } catch (err) {
      // No answer: the delete may have gone through. What etcd holds now tells.
      ok = await this.gone(keys, tx.id).catch(() => false)
      if (!ok) throw new DependencyUnavailableError(`etcd did not answer (${errorMessage(err)}); nothing released, retry`)
    }
    if (!ok) throw new ConflictError(`transaction ${id} or one of its coin reservations changed while abandoning; nothing released, retry`)
    const abandonedAt = new Date().toISOString()
    const actor = caller ? `token:${caller.tokenId}` : 'api'
    await this.audit.record('tx.abandoned', { txId: tx.id, txid, reason, released, error: tx.error, chain, tokenName: caller?.name ?? null }, actor)
    this.log.warn(`transaction ${tx.id} (${txid}) abandoned by ${actor}: released ${released.join(', ')}`)
    return { id: tx.id, txid, released, abandonedAt, warning: warningFor(txid) }
  }

  /** The reservations that name `tx` now (a coin reserved by another send is not its to release). */
  private async locksNaming(tx: TxRecord): Promise<EtcdEntry<{ txId?: string }>[]> {
    const out: EtcdEntry<{ txId?: string }>[] = []
    for (const i of tx.inputs) {
      const lock = await this.etcd.get<{ txId?: string }>(WalletKeys.utxoLock(i.txid, i.vout))
      if (lock?.value?.txId === tx.id) out.push(lock)
    }
    return out
  }

  /** Whether none of `keys` names `txId` any more. */
  private async gone(keys: string[], txId: string): Promise<boolean> {
    for (const key of keys) if ((await this.etcd.get<{ txId?: string }>(key))?.value?.txId === txId) return false
    return true
  }

  /**
   * The chain's view of `txid`: refused (TX_ON_CHAIN) when it is in the mempool or a block, or
   * when an input is spent by it; an input spent by another transaction is fine (that coin is
   * gone either way, and this transaction can never confirm).
   */
  private async askChain(tx: TxRecord, txid: string): Promise<ChainAnswers> {
    let answers: ChainAnswers
    try {
      const chain = this.wallet.chain()
      answers = { status: await chain.txStatus(txid), outspends: [] }
      if (!answers.status.found) {
        for (const i of tx.inputs) answers.outspends.push({ outpoint: `${i.txid}:${i.vout}`, ...(await chain.outspend(i.txid, i.vout)) })
      }
    } catch (err) {
      if (err instanceof DomainError) throw err
      throw new ChainUnavailableError(`the chain could not be asked about ${txid} (${errorMessage(err)}); nothing released, retry`)
    }
    if (answers.status.found) {
      const where = answers.status.confirmed ? `in block ${answers.status.blockHeight}` : 'in the mempool'
      throw onChain(`the chain has transaction ${txid} ${where}: it may still confirm (or did); its coins stay reserved`, answers)
    }
    const spentByIt = answers.outspends.find((s) => s.spent && s.txid === txid)
    if (spentByIt) throw onChain(`input ${spentByIt.outpoint} is spent by transaction ${txid} itself: it may still confirm (or did); its coins stay reserved`, answers)
    return answers
  }
}

/** The txid of every signed version of `tx`: the record's, else the unsigned transaction's (witnesses are not part of a txid). */
function txidOf(tx: TxRecord): string {
  return tx.txid ?? transactionId(tx.unsignedTx)
}

/** What stays true after an abandon, said plainly in every answer. */
export function warningFor(txid: string): string {
  return (
    `Transaction ${txid} stays valid while its inputs are unspent: whoever holds a signed copy can broadcast it later. ` +
    'A new send that spends the same coins conflicts with it (only one of the two can confirm), ' +
    'but a send of other coins to the same payee could pay them twice.'
  )
}

function notAbandonable(message: string): WalletRequestError {
  return new WalletRequestError('TX_NOT_ABANDONABLE', 409, message)
}

function onChain(message: string, chain: ChainAnswers): WalletRequestError {
  return new WalletRequestError('TX_ON_CHAIN', 409, message, { chain })
}
