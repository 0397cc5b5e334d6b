import { Column, Entity, Index } from 'typeorm'
import { BaseEntity } from './base.entity'

/** States of a spend (DESIGN §5 "Send"). */
export const TRANSACTION_STATES = ['pending', 'voting', 'approved', 'signing', 'signed', 'broadcast', 'confirmed', 'rejected', 'failed', 'expired'] as const
export type TransactionState = (typeof TRANSACTION_STATES)[number]

/** A spend as one node tracks it. */
@Entity('transactions')
@Index(['nodeId', 'idempotencyKey'], { unique: true, where: 'idempotency_key IS NOT NULL' })
@Index('transactions_tx_id_idx', ['txId'])
@Index('transactions_txid_idx', ['nodeId', 'txid'])
export class TransactionEntity extends BaseEntity {
  @Column({ name: 'node_id', type: 'int' })
  nodeId!: number

  @Column({ name: 'key_id', type: 'text' })
  keyId!: string

  @Column({ name: 'key_type', type: 'text' })
  keyType!: 'ecdsa' | 'schnorr'

  @Column({ type: 'text' })
  state!: TransactionState

  @Column({ name: 'to_address', type: 'text' })
  toAddress!: string

  @Column({ name: 'amount_sats', type: 'bigint' })
  amountSats!: string

  @Column({ name: 'fee_rate', type: 'numeric', nullable: true })
  feeRate!: string | null

  @Column({ name: 'idempotency_key', type: 'text', nullable: true })
  idempotencyKey!: string | null

  @Column({ name: 'unsigned_tx', type: 'text', nullable: true })
  unsignedTx!: string | null

  @Column({ name: 'signed_tx', type: 'text', nullable: true })
  signedTx!: string | null

  @Column({ type: 'text', nullable: true })
  txid!: string | null

  @Column({ type: 'text', nullable: true })
  error!: string | null

  /** The transaction's id (`/tw/tx/<id>`); the row id is per node ({@link mirrorRowId}). */
  @Column({ name: 'tx_id', type: 'text', nullable: true })
  txId!: string | null

  /** The whole record as etcd last held it (the history once it left etcd). */
  @Column({ type: 'jsonb', nullable: true })
  record!: Record<string, unknown> | null

  /** sha256 of the canonical send request of `idempotencyKey` (a retry with another body is refused). */
  @Column({ name: 'body_hash', type: 'text', nullable: true })
  bodyHash!: string | null
}
