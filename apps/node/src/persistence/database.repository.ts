import { Inject, Injectable, Logger } from '@nestjs/common'
import type { DataSource, EntityManager } from 'typeorm'
import { sleep, errorMessage, withTimeout } from '../common/async'
import { DependencyUnavailableError } from '../common/errors'
import { APP_CONFIG } from '../config/config.module'
import type { AppConfig } from '../config/config'
import { createDataSource } from './data-source'

/** Advisory lock key that serializes migrations of nodes sharing one database. */
const MIGRATION_LOCK = 0x7477_6d69 // "twmi"

/**
 * The one door to PostgreSQL. Owns the TypeORM DataSource: connects and migrates at start,
 * keeps retrying in the background when the database is down (the node serves what it can
 * meanwhile), and hands out transaction-scoped managers so services never manage
 * transactions themselves.
 *
 * @example
 * await db.transaction(async (em) => em.getRepository(NodeStatusEntity).save(row))
 */
@Injectable()
export class DatabaseRepository {
  private readonly log = new Logger('Database')
  private ds: DataSource | null = null
  private ready = false
  private stopping = false
  private retryLoop: Promise<void> | null = null
  private readonly stopSignal = new AbortController()

  constructor(@Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'database'>) {}

  /**
   * Connects and runs pending migrations, waiting up to `waitMs`. If the database is not
   * reachable by then the node goes on without it and keeps retrying in the background.
   */
  async start(waitMs = 15_000): Promise<boolean> {
    const deadline = Date.now() + waitMs
    while (!this.stopping) {
      try {
        await this.connectAndMigrate()
        return true
      } catch (err) {
        if (Date.now() >= deadline) {
          this.log.error(`database unavailable (${errorMessage(err)}); serving without it and retrying in the background`)
          this.retryLoop ??= this.retryInBackground()
          return false
        }
        await sleep(1000, this.stopSignal.signal)
      }
    }
    return false
  }

  /** Whether the database was reached and migrated (it may still be down right now). */
  get isReady(): boolean {
    return this.ready
  }

  /** `SELECT 1` within `timeoutMs`; throws when the database is down. */
  async ping(timeoutMs = 2000): Promise<void> {
    const ds = this.dataSource()
    await withTimeout(ds.query('SELECT 1'), timeoutMs, `database did not answer within ${timeoutMs} ms`)
  }

  /**
   * Runs `work` in one database transaction. Connection failures become
   * {@link DependencyUnavailableError} (HTTP 503).
   */
  async transaction<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    const ds = this.dataSource()
    try {
      return await ds.transaction(work)
    } catch (err) {
      throw mapConnectionError(err)
    }
  }

  /** A plain manager (autocommit) for reads. */
  async read<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    const ds = this.dataSource()
    try {
      return await work(ds.manager)
    } catch (err) {
      throw mapConnectionError(err)
    }
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.stopSignal.abort()
    const ds = this.ds
    this.ds = null
    this.ready = false
    if (ds?.isInitialized) await ds.destroy().catch(() => undefined)
  }

  private dataSource(): DataSource {
    if (!this.ds || !this.ready) throw new DependencyUnavailableError('database unavailable', { dependency: 'database' })
    return this.ds
  }

  private async connectAndMigrate(): Promise<void> {
    const ds = createDataSource(this.config.database.url)
    try {
      await ds.initialize()
      const lock = ds.createQueryRunner()
      await lock.connect()
      try {
        await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
        const done = await ds.runMigrations({ transaction: 'each' })
        for (const m of done) this.log.log(`migration applied: ${m.name}`)
      } finally {
        await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined)
        await lock.release()
      }
    } catch (err) {
      if (ds.isInitialized) await ds.destroy().catch(() => undefined)
      throw err
    }
    this.ds = ds
    this.ready = true
    this.log.log('database connected, schema up to date')
  }

  private async retryInBackground(): Promise<void> {
    while (!this.stopping && !this.ready) {
      await sleep(3000, this.stopSignal.signal)
      if (this.stopping) return
      try {
        await this.connectAndMigrate()
      } catch (err) {
        this.log.debug(`database still unavailable: ${errorMessage(err)}`)
      }
    }
    this.retryLoop = null
  }
}

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '08000', '08003', '08006'])

/** Connection-level failures → 503; everything else unchanged. */
export function mapConnectionError(err: unknown): unknown {
  const e = err as { code?: string; driverError?: { code?: string }; message?: string }
  const code = e?.driverError?.code ?? e?.code
  const msg = e?.message ?? ''
  if (
    (code && CONNECTION_ERRORS.has(code)) ||
    /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(msg)
  ) {
    return new DependencyUnavailableError('database unavailable', { dependency: 'database', reason: msg })
  }
  return err
}
