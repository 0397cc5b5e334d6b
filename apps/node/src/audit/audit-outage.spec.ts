import assert from 'node:assert/strict'
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Logger } from '@nestjs/common'
import { DependencyUnavailableError } from '../common/errors'
import { DatabaseRepository } from '../persistence/database.repository'
import { createTestDatabase, type TestDatabase } from '../testing/postgres'
import { AuditRepository, type AuditEntryInput } from './audit.repository'
import { AuditService } from './audit.service'

/** A repository that refuses while `down`, as the real one does when PostgreSQL is unreachable. */
class FlakyRepository extends AuditRepository {
  down = false
  override appendMany(inputs: AuditEntryInput[]) {
    if (this.down) return Promise.reject(new DependencyUnavailableError('database unavailable', { dependency: 'database' }))
    return super.appendMany(inputs)
  }
}

describe('audit log through a PostgreSQL outage', () => {
  let db: TestDatabase
  let database: DatabaseRepository
  let spoolRoot: string

  before(async () => {
    db = await createTestDatabase()
    database = new DatabaseRepository({ database: { url: db.url } })
    assert.equal(await database.start(5000), true)
    spoolRoot = mkdtempSync(join(tmpdir(), 'tw-audit-spool-'))
  })
  after(async () => {
    await database?.stop()
    await db?.drop()
    rmSync(spoolRoot, { recursive: true, force: true })
  })

  const rowsOf = async (nodeId: number): Promise<number[]> => {
    const rows: { details: { i: number } }[] = await database.read((em) => em.query(`SELECT details FROM audit_log WHERE node_id = $1 ORDER BY id`, [nodeId]))
    return rows.map((r) => r.details.i)
  }

  it('(a) database down: 20 000 entries recorded, none dropped, all written in order when it returns; the chain verifies', async () => {
    const repo = new FlakyRepository(database)
    repo.down = true
    const config = { nodeId: 1, audit: { spoolDir: join(spoolRoot, 'a') } }
    const sut = new AuditService(repo, config)
    try {
      const started = Date.now()
      await Promise.all(Array.from({ length: 20_000 }, (_, i) => sut.record('tx.voted', { i })))
      assert.ok(Date.now() - started < 20_000, 'record() does not wait for the database')
      assert.equal(sut.pendingCount, 20_000, 'every entry waits for the database, none dropped')
      repo.down = false
      await sut.drain(60_000)
      assert.equal(sut.pendingCount, 0)
      assert.deepEqual(
        await rowsOf(1),
        Array.from({ length: 20_000 }, (_, i) => i),
      )
      assert.deepEqual(await sut.verify(), { ok: true, checked: 20_000, firstBrokenId: null, reason: null })
    } finally {
      await sut.close()
    }
    await assertSpoolEmpty(config.audit.spoolDir)
  })

  it('(b) a crash during the outage: a new instance over the same spool writes what the old one spooled', async () => {
    const dir = join(spoolRoot, 'b')
    const repo = new FlakyRepository(database)
    repo.down = true
    const old = new AuditService(repo, { nodeId: 2, audit: { spoolDir: dir } })
    await Promise.all(Array.from({ length: 500 }, (_, i) => old.record('tx.voted', { i })))
    assert.equal(old.pendingCount, 500)
    // kill -9: the old instance never writes again and its memory is gone; only the disk remains.
    await old.close()

    const fresh = new AuditService(new AuditRepository(database), { nodeId: 2, audit: { spoolDir: dir } })
    try {
      assert.equal(fresh.pendingCount, 500, 'the spool survived the crash')
      await fresh.record('tx.voted', { i: 500 })
      await fresh.drain(30_000)
      assert.equal(fresh.pendingCount, 0)
    } finally {
      await fresh.close()
    }
    assert.deepEqual(
      await rowsOf(2),
      Array.from({ length: 501 }, (_, i) => i),
    )
    assert.equal((await new AuditRepository(database).verify()).ok, true)
    await assertSpoolEmpty(dir)
  })

  it('(c) a torn last spool line is skipped with a warning, the rest written', async () => {
    const dir = join(spoolRoot, 'c')
    const repo = new FlakyRepository(database)
    repo.down = true
    const old = new AuditService(repo, { nodeId: 5, audit: { spoolDir: dir } })
    await Promise.all(Array.from({ length: 10 }, (_, i) => old.record('tx.voted', { i })))
    await old.close()
    // The crash hit in the middle of the next line.
    const [segment] = readdirSync(dir)
    appendFileSync(join(dir, segment), '{"id":"0b8f0d4e-torn","at":"2026-01-01T00:00:00.000Z","entry":{"nodeId":5,"act')
    const warnings: string[] = []
    const warn = Logger.prototype.warn
    Logger.prototype.warn = function (message: unknown) {
      warnings.push(String(message))
    }
    let fresh: AuditService
    try {
      fresh = new AuditService(new AuditRepository(database), { nodeId: 5, audit: { spoolDir: dir } })
    } finally {
      Logger.prototype.warn = warn
    }
    assert.ok(
      warnings.some((w) => /torn line .* skipped/.test(w)),
      `a warning names the torn line: ${warnings.join(' | ')}`,
    )
    try {
      assert.equal(fresh.pendingCount, 10)
      await fresh.record('tx.voted', { i: 10 })
      await fresh.drain(30_000)
      assert.equal(fresh.pendingCount, 0)
    } finally {
      await fresh.close()
    }
    assert.deepEqual(
      await rowsOf(5),
      Array.from({ length: 11 }, (_, i) => i),
    )
    assert.equal((await new AuditRepository(database).verify()).ok, true)
    await assertSpoolEmpty(dir)
  })

  it('(d) a crash after the database commit but before the spool trim writes nothing twice', async () => {
    const dir = join(spoolRoot, 'd')
    /** Commits, then "crashes" before the caller hears back (so the spool is never trimmed). */
    class CommitThenCrash extends AuditRepository {
      crash = true
      override async appendMany(inputs: AuditEntryInput[]) {
        const rows = await super.appendMany(inputs)
        if (this.crash) throw new Error('connection lost after COMMIT')
        return rows
      }
    }
    const repo = new CommitThenCrash(database)
    const old = new AuditService(repo, { nodeId: 6, audit: { spoolDir: dir } })
    await Promise.all(Array.from({ length: 200 }, (_, i) => old.record('tx.voted', { i })))
    await old.close()
    const committed = (await rowsOf(6)).length
    assert.ok(committed > 0, 'at least one batch committed before the "crash"')
    assert.ok(old.pendingCount >= committed, 'the committed entries are still in the spool')

    const fresh = new AuditService(new AuditRepository(database), { nodeId: 6, audit: { spoolDir: dir } })
    try {
      await fresh.drain(30_000)
      assert.equal(fresh.pendingCount, 0)
    } finally {
      await fresh.close()
    }
    assert.deepEqual(
      await rowsOf(6),
      Array.from({ length: 200 }, (_, i) => i),
      'each entry exactly once, in order',
    )
    assert.equal((await new AuditRepository(database).verify()).ok, true)
    await assertSpoolEmpty(dir)
  })

  it('(d2) the same instance retrying after an unknown commit outcome skips what was committed', async () => {
    const dir = join(spoolRoot, 'd2')
    let failures = 2
    class LosesAnswers extends AuditRepository {
      override async appendMany(inputs: AuditEntryInput[]) {
        const rows = await super.appendMany(inputs)
        if (failures-- > 0) throw new Error('connection lost after COMMIT')
        return rows
      }
    }
    const sut = new AuditService(new LosesAnswers(database), { nodeId: 7, audit: { spoolDir: dir } })
    try {
      await Promise.all(Array.from({ length: 300 }, (_, i) => sut.record('tx.voted', { i })))
      await sut.drain(30_000)
      assert.equal(sut.pendingCount, 0)
    } finally {
      await sut.close()
    }
    assert.deepEqual(
      await rowsOf(7),
      Array.from({ length: 300 }, (_, i) => i),
    )
    assert.equal((await new AuditRepository(database).verify()).ok, true)
  })

  it('keeps the time each entry was recorded and its unique id in the row', async () => {
    const rows: { details: Record<string, unknown>; created_at: Date }[] = await database.read((em) =>
      em.query(`SELECT details, created_at FROM audit_log WHERE node_id = 2 ORDER BY id LIMIT 2`),
    )
    assert.match(String(rows[0].details.auditEntryId), /^[0-9a-f-]{36}$/)
    assert.notEqual(rows[0].details.auditEntryId, rows[1].details.auditEntryId)
  })
})

async function assertSpoolEmpty(dir: string): Promise<void> {
  const left = readdirSync(dir)
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('')
  assert.equal(left, '', 'nothing left in the spool')
}
