import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm'

/** Last known state of each node, written by the node itself (heartbeat). */
@Entity('node_status')
export class NodeStatusEntity {
  @PrimaryColumn({ name: 'node_id', type: 'int' })
  nodeId!: number

  @Column({ type: 'text' })
  status!: 'starting' | 'up' | 'stopping' | 'down'

  @Column({ name: 'api_url', type: 'text', nullable: true })
  apiUrl!: string | null

  @Column({ name: 'quic_addr', type: 'text', nullable: true })
  quicAddr!: string | null

  @Column({ name: 'started_at', type: 'timestamptz' })
  startedAt!: Date

  @Column({ name: 'last_seen', type: 'timestamptz' })
  lastSeen!: Date

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date
}
