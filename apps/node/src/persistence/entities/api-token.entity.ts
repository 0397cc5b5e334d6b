import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm'

/**
 * A bearer token of the REST API. Only its SHA-256 is stored (tokens are 32 random bytes, so
 * a plain hash is enough); the token itself is shown once, when it is created.
 */
@Entity('api_tokens')
export class ApiTokenEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string

  @Column({ type: 'text' })
  name!: string

  @Column({ type: 'text' })
  role!: 'viewer' | 'operator' | 'admin'

  /** Lower-case hex SHA-256 of the whole token string (`tw_...`). */
  @Column({ name: 'token_sha256', type: 'char', length: 64, unique: true })
  tokenSha256!: string

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null
}
