import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createTestDatabase, type TestDatabase } from '../testing/postgres'
import { createDataSource } from './data-source'

const TABLES = ['api_tokens', 'audit_log', 'byzantine_violations', 'node_status', 'presignature_usage', 'transactions', 'votes', 'voting_rounds', 'webhook_deliveries']

describe('migrations', () => {
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase()
  })
  after(async () => {
    await db?.drop()
  })

  it('run up and down cleanly on a fresh database, and up again', async () => {
    const ds = createDataSource(db.url)
    await ds.initialize()
    try {
      const tables = async () =>
        (
          (await ds.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'typeorm_migrations' ORDER BY 1`)) as {
            tablename: string
          }[]
        ).map((r) => r.tablename)

      const applied = await ds.runMigrations({ transaction: 'each' })
      assert.equal(applied.length, 7)
      assert.deepEqual(await tables(), TABLES)
      assert.equal(await ds.showMigrations(), false, 'nothing pending after up')
      const role = await ds.query(`SELECT 1 FROM pg_roles WHERE rolname = 'tw_app'`)
      assert.equal(role.length, 1, 'tw_app role exists')
      const priv = await ds.query(
        `SELECT has_table_privilege('tw_app', 'audit_log', 'TRUNCATE') AS t, has_table_privilege('tw_app', 'audit_log', 'UPDATE') AS u, has_table_privilege('tw_app', 'audit_log', 'INSERT') AS i`,
      )
      assert.deepEqual(priv[0], { t: false, u: false, i: true })

      // The violation types: invalid_decision (a leader's faulty signed decision) is accepted, then gone after down.
      const violation = (type: string) => ds.query(`INSERT INTO byzantine_violations (node_id, offender_node_id, type, evidence) VALUES (1, 2, $1, '{}'::jsonb)`, [type])
      await violation('invalid_decision')
      await assert.rejects(violation('bogus'), /byzantine_violations_type_check/)
      // The transaction history columns (issue 14): gone after their migration's down.
      const columns = async () =>
        (
          (await ds.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'transactions' AND column_name IN ('tx_id','record','body_hash') ORDER BY 1`)) as {
            column_name: string
          }[]
        ).map((r) => r.column_name)
      assert.deepEqual(await columns(), ['body_hash', 'record', 'tx_id'])
      // The webhook delivery log (issue 16): tw_app appends, never rewrites; gone after its down.
      const log = await ds.query(`SELECT has_table_privilege('tw_app', 'webhook_deliveries', 'INSERT') AS i, has_table_privilege('tw_app', 'webhook_deliveries', 'UPDATE') AS u`)
      assert.deepEqual(log[0], { i: true, u: false })
      await ds.undoLastMigration({ transaction: 'each' })
      assert.deepEqual(
        await tables(),
        TABLES.filter((t) => t !== 'webhook_deliveries'),
      )
      // A cancellation's amount is 0 (issue 16): allowed, and refused again (for new rows only) after the down.
      const amountCheck = async () =>
        ((await ds.query(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'transactions_amount_sats_check'`)) as { def: string }[])[0]?.def
      assert.equal(await amountCheck(), 'CHECK ((amount_sats >= 0))')
      await ds.undoLastMigration({ transaction: 'each' })
      assert.equal(await amountCheck(), 'CHECK ((amount_sats > 0)) NOT VALID')
      // The per-node txid index (GET /transactions/:txid), gone after its down.
      const txidIndex = async () => (await ds.query(`SELECT 1 FROM pg_indexes WHERE indexname = 'transactions_txid_idx'`)).length
      assert.equal(await txidIndex(), 1)
      await ds.undoLastMigration({ transaction: 'each' })
      assert.equal(await txidIndex(), 0)
      await ds.undoLastMigration({ transaction: 'each' })
      assert.deepEqual(await columns(), [])
      await ds.undoLastMigration({ transaction: 'each' })
      await assert.rejects(violation('invalid_decision'), /byzantine_violations_type_check/)
      await ds.undoLastMigration({ transaction: 'each' })
      assert.deepEqual(
        await tables(),
        TABLES.filter((t) => t !== 'api_tokens' && t !== 'webhook_deliveries'),
      )
      await ds.undoLastMigration({ transaction: 'each' })
      assert.deepEqual(await tables(), [])
      assert.equal(await ds.showMigrations(), true, 'pending again after down')

      await ds.runMigrations({ transaction: 'each' })
      assert.deepEqual(await tables(), TABLES)
    } finally {
      await ds.destroy()
    }
  })
})
