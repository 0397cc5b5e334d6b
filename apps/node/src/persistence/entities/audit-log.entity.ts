import { Column, Entity, PrimaryColumn } from 'typeorm'

/**
 * One entry of the append-only, hash-chained audit log. `id` is gap-free (assigned under an
 * advisory lock), `hash = sha256(prevHash || canonicalJson({id, nodeId, action, actor,
 * details, createdAt}))`. UPDATE/DELETE/TRUNCATE are refused by the database.
 */
@Entity('audit_log')
export class AuditLogEntity {
  @PrimaryColumn({ type: 'bigint' })
  id!: string

  @Column({ name: 'node_id', type: 'int' })
  nodeId!: number

  @Column({ type: 'text' })
  action!: string

  @Column({ type: 'text' })
  actor!: string

  @Column({ type: 'jsonb' })
  details!: Record<string, unknown>

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date

  @Column({ name: 'prev_hash', type: 'char', length: 64 })
  prevHash!: string

  @Column({ type: 'char', length: 64 })
  hash!: string
}
