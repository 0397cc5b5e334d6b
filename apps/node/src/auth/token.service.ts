import { Inject, Injectable, Logger } from '@nestjs/common'
import type { CreatedTokenDto, TokenDto, TokenRole } from '@tw/api'
import { IsNull } from 'typeorm'
import { AuditService } from '../audit/audit.service'
import { EtcdRepository } from '../cluster/etcd.repository'
import { errorMessage, sleep } from '../common/async'
import { NotFoundError } from '../common/errors'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { ApiTokenEntity } from '../persistence/entities'
import { DatabaseRepository } from '../persistence/database.repository'
import { generateToken, hashToken, isWellFormedToken } from './token'

/** etcd prefix of revocations: `/tw/tokens/revoked/<id>` → `{id, sha256, revokedAt, revokedBy}`. */
export const REVOKED_PREFIX = '/tw/tokens/revoked/'

export interface RevocationRecord {
  id: string
  sha256: string
  revokedAt: string
  revokedBy: string
}

/** The caller a request was authenticated as. */
export interface AuthenticatedToken {
  id: string
  name: string
  role: TokenRole
}

/** How often `last_used_at` is written per token at most (one UPDATE per token per minute). */
const TOUCH_EVERY_MS = 60_000

/**
 * API tokens: issue, list, revoke, verify. Only SHA-256 digests are stored (PostgreSQL,
 * `api_tokens`). Every request looks its token up in the database (no cache), so a revocation
 * on one node is seen at once by every node sharing that database; a revocation is also
 * published to etcd (`/tw/tokens/revoked/<id>`, with the digest) and every node keeps that set
 * in memory from a watch, so nodes with their own databases refuse it too.
 *
 * At start the node makes sure a token with `TW_BOOTSTRAP_ADMIN_TOKEN_SHA256` exists as an
 * admin token (idempotent; a revoked bootstrap token stays revoked).
 */
@Injectable()
export class TokenService {
  private readonly log = new Logger('Tokens')
  private readonly revokedIds = new Set<string>()
  private readonly revokedDigests = new Set<string>()
  private readonly revokeListeners = new Set<(tokenId: string) => void>()
  private readonly touched = new Map<string, number>()
  private bootstrapped = false
  private watching = false
  private stopping = false
  private readonly stopSignal = new AbortController()
  private background: Promise<void> | null = null

  constructor(
    private readonly db: DatabaseRepository,
    private readonly etcd: EtcdRepository,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'auth' | 'nodeId'>,
  ) {}

  /**
   * Creates the bootstrap admin token row and starts watching etcd revocations. Whatever is
   * unavailable now (database, etcd) is retried in the background.
   */
  async start(): Promise<void> {
    await this.tryBootstrap()
    await this.tryWatch()
    if (!this.bootstrapped || !this.watching) this.background ??= this.retry()
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.stopSignal.abort()
    await this.background?.catch(() => undefined)
  }

  /** The token's owner, or null for an unknown, revoked or malformed token. */
  async verify(token: string): Promise<AuthenticatedToken | null> {
    if (!isWellFormedToken(token)) return null
    const digest = hashToken(token)
    if (this.revokedDigests.has(digest)) return null
    if (!this.bootstrapped) await this.tryBootstrap()
    const row = await this.db.read((em) => em.getRepository(ApiTokenEntity).findOne({ where: { tokenSha256: digest } }))
    if (!row || row.revokedAt !== null || this.revokedIds.has(row.id)) return null
    this.touch(row.id)
    return { id: row.id, name: row.name, role: row.role }
  }

  async create(name: string, role: TokenRole, actor: string): Promise<CreatedTokenDto> {
    const token = generateToken()
    const row = await this.db.transaction(async (em) => {
      const repo = em.getRepository(ApiTokenEntity)
      return repo.save(repo.create({ name, role, tokenSha256: hashToken(token), createdAt: new Date(), revokedAt: null, lastUsedAt: null }))
    })
    await this.audit.record('token.created', { tokenId: row.id, name, role }, actor)
    return { ...toDto(row), token }
  }

  async list(): Promise<TokenDto[]> {
    const rows = await this.db.read((em) => em.getRepository(ApiTokenEntity).find({ order: { createdAt: 'ASC' } }))
    return rows.map(toDto)
  }

  /** Revokes at once (database, then etcd for nodes with their own database). Idempotent. */
  async revoke(id: string, actor: string): Promise<TokenDto> {
    const row = await this.db.transaction(async (em) => {
      const repo = em.getRepository(ApiTokenEntity)
      const found = await repo.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } })
      if (!found) throw new NotFoundError(`no token ${id}`)
      if (found.revokedAt === null) {
        found.revokedAt = new Date()
        await repo.update({ id, revokedAt: IsNull() }, { revokedAt: found.revokedAt })
      }
      return found
    })
    this.addRevocation({ id: row.id, sha256: row.tokenSha256 })
    const record: RevocationRecord = { id: row.id, sha256: row.tokenSha256, revokedAt: row.revokedAt!.toISOString(), revokedBy: actor }
    try {
      await this.etcd.putIfAbsent(REVOKED_PREFIX + row.id, record)
    } catch (err) {
      // The database already refuses it on every node that shares it; say what is missing.
      this.log.error(`token ${row.id} revoked in the database but not published to etcd: ${errorMessage(err)}`)
    }
    await this.audit.record('token.revoked', { tokenId: row.id, name: row.name, role: row.role }, actor)
    return toDto(row)
  }

  /**
   * Calls `listener` with the id of every token revoked from now on, here or on another node
   * (so an open event stream of that token is closed at once); returns the unsubscribe.
   */
  onRevoked(listener: (tokenId: string) => void): () => void {
    this.revokeListeners.add(listener)
    return () => this.revokeListeners.delete(listener)
  }

  /** Ids known revoked through etcd (for tests and status). */
  isRevokedInEtcd(id: string): boolean {
    return this.revokedIds.has(id)
  }

  private touch(id: string): void {
    const now = Date.now()
    if (now - (this.touched.get(id) ?? 0) < TOUCH_EVERY_MS) return
    this.touched.set(id, now)
    void this.db
      .read((em) => em.getRepository(ApiTokenEntity).update({ id }, { lastUsedAt: new Date(now) }))
      .catch((err) => this.log.debug(`last_used_at of ${id}: ${errorMessage(err)}`))
  }

  private async tryBootstrap(): Promise<void> {
    const digest = this.config.auth.bootstrapAdminTokenSha256
    if (digest === null) {
      this.bootstrapped = true
      return
    }
    if (!this.db.isReady) return
    try {
      const res = await this.db.read((em) =>
        em
          .createQueryBuilder()
          .insert()
          .into(ApiTokenEntity)
          .values({ name: 'bootstrap-admin', role: 'admin', tokenSha256: digest, createdAt: new Date(), revokedAt: null, lastUsedAt: null })
          .orIgnore()
          .returning(['id'])
          .execute(),
      )
      this.bootstrapped = true
      const id = (res.raw as { id?: string }[])[0]?.id
      if (id) {
        this.log.log(`bootstrap admin token registered (id ${id})`)
        void this.audit.record('token.created', { tokenId: id, name: 'bootstrap-admin', role: 'admin', bootstrap: true })
      }
    } catch (err) {
      this.log.warn(`bootstrap admin token not registered yet: ${errorMessage(err)}`)
    }
  }

  private async tryWatch(): Promise<void> {
    if (this.watching) return
    try {
      // Watch first, then read what exists: nothing revoked in between is missed.
      await this.etcd.watchPrefix(REVOKED_PREFIX, (key, deleted) => {
        if (!deleted) void this.loadRevocation(key)
      })
      this.watching = true
      for (const e of await this.etcd.getPrefix<RevocationRecord>(REVOKED_PREFIX)) this.addRevocation(e.value)
    } catch (err) {
      this.log.warn(`etcd token revocations not watched yet: ${errorMessage(err)}`)
    }
  }

  private async loadRevocation(key: string): Promise<void> {
    try {
      const e = await this.etcd.get<RevocationRecord>(key)
      if (e) this.addRevocation(e.value)
    } catch (err) {
      this.log.warn(`revocation ${key}: ${errorMessage(err)}`)
    }
  }

  private addRevocation(r: Pick<RevocationRecord, 'id' | 'sha256'> | null | undefined): void {
    if (!r) return
    if (typeof r.sha256 === 'string' && /^[0-9a-f]{64}$/.test(r.sha256)) this.revokedDigests.add(r.sha256)
    if (typeof r.id !== 'string' || this.revokedIds.has(r.id)) return
    this.revokedIds.add(r.id)
    for (const listener of this.revokeListeners) listener(r.id)
  }

  private async retry(): Promise<void> {
    while (!this.stopping && (!this.bootstrapped || !this.watching)) {
      await sleep(3000, this.stopSignal.signal).catch(() => undefined)
      if (this.stopping) break
      await this.tryBootstrap()
      await this.tryWatch()
    }
    this.background = null
  }
}

function toDto(r: ApiTokenEntity): TokenDto {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    createdAt: r.createdAt.toISOString(),
    revokedAt: r.revokedAt?.toISOString() ?? null,
    lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
  }
}
