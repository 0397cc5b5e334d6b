import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm'

/** One attempt to deliver one event to one webhook (append-only: the delivery log). */
@Entity('webhook_deliveries')
@Index(['webhookId', 'createdAt'])
export class WebhookDeliveryEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string

  @Column({ name: 'webhook_id', type: 'text' })
  webhookId!: string

  @Column({ name: 'event_id', type: 'text' })
  eventId!: string

  @Column({ name: 'event_type', type: 'text' })
  eventType!: string

  /** The event's sequence number (null for a test ping). */
  @Column({ type: 'bigint', nullable: true })
  seq!: string | null

  @Column({ type: 'int' })
  attempt!: number

  @Column({ type: 'text' })
  outcome!: 'delivered' | 'failed' | 'gave_up' | 'refused'

  @Column({ name: 'http_status', type: 'int', nullable: true })
  httpStatus!: number | null

  @Column({ type: 'text', nullable: true })
  error!: string | null

  @Column({ name: 'duration_ms', type: 'int' })
  durationMs!: number

  @Column({ name: 'node_id', type: 'int' })
  nodeId!: number

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date
}
