import { Column, Entity, Index } from 'typeorm'
import { BaseEntity } from './base.entity'

/** One round of votes on a transaction proposal. */
@Entity('voting_rounds')
@Index(['transactionId', 'round'], { unique: true })
export class VotingRoundEntity extends BaseEntity {
  @Column({ name: 'transaction_id', type: 'uuid' })
  transactionId!: string

  @Column({ type: 'int' })
  round!: number

  @Column({ name: 'proposer_node_id', type: 'int' })
  proposerNodeId!: number

  @Column({ type: 'text' })
  status!: 'open' | 'approved' | 'rejected' | 'expired'

  @Column({ type: 'int', default: 0 })
  approvals!: number

  @Column({ type: 'int', default: 0 })
  rejections!: number

  @Column({ name: 'closed_at', type: 'timestamptz', nullable: true })
  closedAt!: Date | null
}
