import { Inject, Injectable, Logger } from '@nestjs/common'
import type { TransactionDto, TransactionStateDto, VoteDto } from '@tw/api'
import { createHash } from 'node:crypto'
import { NodeIdentityService } from '../byzantine/identity.service'
import { errorMessage } from '../common/async'
import { EtcdKeys, EtcdRepository, type EtcdEntry } from '../cluster/etcd.repository'
import type { KeyRecord } from '../keys/dkg.types'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { DatabaseRepository } from '../persistence/database.repository'
import { TransactionEntity } from '../persistence/entities'
import { toPsbt } from '@tw/bitcoin'
import { pathString, WalletKeys, type SignedVote, type TxRecord } from './wallet.types'

/** Deterministic row id of a node's mirror of transaction `txId` (one row per node in a shared database). */
export function mirrorRowId(txId: string, nodeId: number): string {
  const h = createHash('sha256').update(`${txId}:${nodeId}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/**
 * Transactions: etcd holds the record every node acts on (`/tw/tx/<id>`), PostgreSQL a
 * per-node mirror for queries and history. A vote counts only if it is for exactly this
 * proposal and its signature verifies ({@link NodeIdentityService}).
 */
@Injectable()
export class TxStore {
  private readonly log = new Logger('TxStore')

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly etcd: EtcdRepository,
    private readonly db: DatabaseRepository,
    private readonly identity: NodeIdentityService,
  ) {}

  async get(id: string): Promise<EtcdEntry<TxRecord> | null> {
    return this.etcd.get<TxRecord>(WalletKeys.tx(id))
  }

  async list(): Promise<TxRecord[]> {
    return (await this.etcd.getPrefix<TxRecord>(WalletKeys.txs)).map((e) => e.value).sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  }

  async votes(id: string): Promise<SignedVote[]> {
    return (await this.etcd.getPrefix<SignedVote>(WalletKeys.votes(id))).map((e) => e.value)
  }

  /** `record` moved to `state` (history appended); the caller writes it (fenced). */
  static advance(record: TxRecord, state: TransactionStateDto, patch: Partial<TxRecord> = {}): TxRecord {
    const at = new Date().toISOString()
    return { ...record, ...patch, state, updatedAt: at, history: [...record.history, { state, at }] }
  }

  /** Upserts this node's PostgreSQL mirror of `record`. Best effort: etcd is the record of truth. */
  async mirror(record: TxRecord, idempotencyKey: string | null = null): Promise<void> {
    try {
      const row = {
        id: mirrorRowId(record.id, this.config.nodeId),
        nodeId: this.config.nodeId,
        keyId: record.keyId,
        keyType: (record.type === 'segwit' ? 'ecdsa' : 'schnorr') as 'ecdsa' | 'schnorr',
        state: record.state,
        toAddress: record.to,
        amountSats: String(record.amountSats),
        feeRate: String(record.feeRate),
        unsignedTx: record.unsignedTx,
        signedTx: record.signedTx,
        txid: record.txid,
        error: record.error ? `${record.error.code}: ${record.error.message}` : null,
        ...(idempotencyKey !== null ? { idempotencyKey } : {}),
      }
      // One statement, safe when two steps mirror the same transaction at once.
      await this.db.transaction((em) => em.getRepository(TransactionEntity).upsert(row, ['id']))
    } catch (err) {
      this.log.warn(`mirroring transaction ${record.id} to PostgreSQL failed: ${errorMessage(err)}`)
    }
  }

  /** Whether `vote` is signed by the node it names, for exactly `record`. */
  async voteValid(vote: SignedVote, record: TxRecord): Promise<boolean> {
    if (vote.payload.txId !== record.id || vote.payload.proposalHash !== record.proposalHash) return false
    return this.identity.verify(vote.payload.nodeId, vote.payload, vote.signature)
  }

  async toDto(record: TxRecord, confirmations = 0): Promise<TransactionDto> {
    const votes: VoteDto[] = []
    for (const v of await this.votes(record.id)) {
      votes.push({
        nodeId: v.payload.nodeId,
        approve: v.payload.approve,
        reason: v.payload.reason,
        signatureValid: await this.voteValid(v, record),
        votedAt: v.payload.votedAt,
      })
    }
    votes.sort((a, b) => a.nodeId - b.nodeId)
    let psbt = ''
    const key = (await this.etcd.get<KeyRecord>(EtcdKeys.key(record.keyId)))?.value
    if (key?.publicKey && key.chainCode) {
      try {
        psbt = toPsbt({
          txHex: record.unsignedTx,
          inputs: record.inputs.map((i) => ({ ...i, scriptPubKey: Buffer.from(i.scriptPubKey, 'hex'), keyType: record.type })),
          network: this.config.chain.network,
          keys: { [record.type]: { publicKey: Buffer.from(key.publicKey, 'hex'), chainCode: Buffer.from(key.chainCode, 'hex') } },
          changes: record.outputs.flatMap((o, index) => (o.change && o.path ? [{ index, keyType: record.type, path: o.path }] : [])),
        })
      } catch (err) {
        this.log.warn(`PSBT of ${record.id}: ${errorMessage(err)}`)
      }
    }
    return {
      id: record.id,
      state: record.state,
      type: record.type,
      keyId: record.keyId,
      to: record.to,
      amountSats: record.amountSats,
      feeSats: record.feeSats,
      feeRate: record.feeRate,
      vsize: record.vsize,
      inputs: record.inputs.map((i) => ({ txid: i.txid, vout: i.vout, valueSats: i.value, path: pathString(i.path) })),
      outputs: record.outputs.map((o) => ({ address: o.address, valueSats: o.value, change: o.change })),
      txid: record.txid,
      hex: record.signedTx,
      psbt,
      signers: record.signers,
      signingMode: record.signingMode,
      votes,
      confirmations,
      error: record.error,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      history: record.history,
    }
  }
}
