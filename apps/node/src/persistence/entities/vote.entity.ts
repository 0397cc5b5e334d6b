import { Column, Entity, Index } from 'typeorm'
import { BaseEntity } from './base.entity'

/** A node's signed vote in a voting round (one per voter and round). */
@Entity('votes')
@Index(['votingRoundId', 'voterNodeId'], { unique: true })
export class VoteEntity extends BaseEntity {
  @Column({ name: 'voting_round_id', type: 'uuid' })
  votingRoundId!: string

  @Column({ name: 'voter_node_id', type: 'int' })
  voterNodeId!: number

  @Column({ type: 'boolean' })
  approve!: boolean

  @Column({ type: 'text', nullable: true })
  reason!: string | null

  /** The vote as signed (canonical JSON) and its signature by the voter's node identity. */
  @Column({ type: 'text' })
  payload!: string

  @Column({ type: 'text' })
  signature!: string
}
