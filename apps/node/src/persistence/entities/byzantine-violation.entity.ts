import type { ViolationType } from '@tw/api'
import { Column, Entity, Index } from 'typeorm'
import { BaseEntity } from './base.entity'

/** Transferable evidence that a node misbehaved (DESIGN §5 "Byzantine detection"). */
@Entity('byzantine_violations')
@Index(['offenderNodeId'])
export class ByzantineViolationEntity extends BaseEntity {
  /** The node that recorded it. */
  @Column({ name: 'node_id', type: 'int' })
  nodeId!: number

  @Column({ name: 'offender_node_id', type: 'int' })
  offenderNodeId!: number

  @Column({ type: 'text' })
  type!: ViolationType

  @Column({ name: 'session_id', type: 'text', nullable: true })
  sessionId!: string | null

  @Column({ type: 'jsonb' })
  evidence!: Record<string, unknown>
}
