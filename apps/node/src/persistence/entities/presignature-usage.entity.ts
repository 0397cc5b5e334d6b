import { Column, Entity, Index } from 'typeorm'
import { BaseEntity } from './base.entity'

/** A presignature consumed or burned on one node: never to be used again. */
@Entity('presignature_usage')
@Index(['nodeId', 'presignatureId'], { unique: true })
export class PresignatureUsageEntity extends BaseEntity {
  @Column({ name: 'node_id', type: 'int' })
  nodeId!: number

  @Column({ name: 'presignature_id', type: 'text' })
  presignatureId!: string

  @Column({ name: 'key_id', type: 'text' })
  keyId!: string

  /** Comma-separated sorted node ids, e.g. "1,2,3,4". */
  @Column({ name: 'signer_set', type: 'text' })
  signerSet!: string

  @Column({ name: 'derivation_path', type: 'text' })
  derivationPath!: string

  @Column({ name: 'transaction_id', type: 'uuid', nullable: true })
  transactionId!: string | null

  @Column({ type: 'text' })
  outcome!: 'used' | 'burned'
}
