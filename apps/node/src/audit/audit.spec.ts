import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DatabaseRepository } from '../persistence/database.repository'
import { createTestDatabase, type TestDatabase } from '../testing/postgres'
import { AuditRepository } from './audit.repository'
import { AuditService } from './audit.service'

describe('audit log', () => {
  let db: TestDatabase
  let database: DatabaseRepository
  let sut: AuditService
  let other: AuditService
  const spoolRoot = mkdtempSync(join(tmpdir(), 'tw-audit-'))

  before(async () => {
    db = await createTestDatabase()
    database = new DatabaseRepository({ database: { url: db.url } })
    assert.equal(await database.start(5000), true)
    sut = new AuditService(new AuditRepository(database), { nodeId: 3, audit: { spoolDir: join(spoolRoot, '3') } })
  })
  after(async () => {
    await sut?.close()
    await other?.close()
    rmSync(spoolRoot, { recursive: true, force: true })
    await database?.stop()
    await db?.drop()
  })

  it('chains concurrent appends and verifies', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => sut.record('dkg.requested', { i, nested: { b: 1, a: [1, 'x'] } })))
    assert.equal(sut.pendingCount, 0)
    const check = await sut.verify()
    assert.deepEqual(check, { ok: true, checked: 20, firstBrokenId: null, reason: null })
  })

  it('two nodes writing batches at once share one unbroken chain, each in its own order', async () => {
    other = new AuditService(new AuditRepository(database), { nodeId: 4, audit: { spoolDir: join(spoolRoot, '4') } })
    await Promise.all([...Array.from({ length: 30 }, (_, i) => sut.record('tx.voted', { i })), ...Array.from({ length: 30 }, (_, i) => other.record('tx.voted', { i }))])
    assert.equal(sut.pendingCount + other.pendingCount, 0)
    const check = await sut.verify()
    assert.deepEqual(check, { ok: true, checked: 80, firstBrokenId: null, reason: null })
    const rows: { node_id: number; details: { i: number } }[] = await database.read((em) =>
      em.query(`SELECT node_id, details FROM audit_log WHERE action = 'tx.voted' ORDER BY id`),
    )
    for (const node of [3, 4]) {
      assert.deepEqual(
        rows.filter((r) => r.node_id === node).map((r) => r.details.i),
        Array.from({ length: 30 }, (_, i) => i),
        `node ${node}'s entries are in the order it recorded them`,
      )
    }
    // Back to the 20 rows the tests below expect (the chain's tail removed, so it still verifies).
    await database.transaction(async (em) => {
      await em.query(`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete`)
      await em.query(`DELETE FROM audit_log WHERE action = 'tx.voted'`)
      await em.query(`ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete`)
    })
  })

  it('refuses UPDATE, DELETE and TRUNCATE while the trigger is enabled', async () => {
    await assert.rejects(
      database.transaction((em) => em.query(`UPDATE audit_log SET action = 'x' WHERE id = 2`)),
      /append-only: UPDATE refused/,
    )
    await assert.rejects(
      database.transaction((em) => em.query(`DELETE FROM audit_log WHERE id = 2`)),
      /append-only: DELETE refused/,
    )
    await assert.rejects(
      database.transaction((em) => em.query(`TRUNCATE audit_log`)),
      /append-only: TRUNCATE refused/,
    )
    assert.equal((await sut.verify()).ok, true)
  })

  it('finds the first row changed with the trigger disabled', async () => {
    await database.transaction(async (em) => {
      await em.query(`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete`)
      await em.query(`UPDATE audit_log SET details = '{"i": 999}' WHERE id = 7`)
      await em.query(`UPDATE audit_log SET action = 'dkg.completed' WHERE id = 12`)
      await em.query(`ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete`)
    })
    const check = await sut.verify()
    assert.equal(check.ok, false)
    assert.equal(check.firstBrokenId, '7')
    assert.match(check.reason ?? '', /hash does not match/)
  })

  it('finds a deleted row', async () => {
    await database.transaction(async (em) => {
      await em.query(`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete`)
      await em.query(`DELETE FROM audit_log WHERE id IN (3, 7, 12)`)
      await em.query(`ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete`)
    })
    const check = await sut.verify()
    assert.equal(check.firstBrokenId, '4')
    assert.match(check.reason ?? '', /missing/)
  })
})
